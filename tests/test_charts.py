"""The Trade-offs tab's figures from pure functions (no app, no model): the Pareto front, labels that
move apart, and what the charts say about distillation."""

from __future__ import annotations



from lightclip_core.app import charts, views


def test_compare_opens_on_the_default_against_the_cheapest_student():
    bundled = ["coatnet_0_rw_224", "efficientnet_b0", "efficientnet_lite0", "mobilenetv3_small_100"]
    assert views.compare_defaults(bundled, "efficientnet_lite0") == ["efficientnet_lite0", "mobilenetv3_small_100"]
    assert views.compare_defaults(bundled, "efficientnet_b0") == ["efficientnet_b0", "efficientnet_lite0"]
    assert views.compare_defaults(["b", "a", "c"], None) == ["b", "a"]  # neither present: the first two
    assert views.compare_defaults(["a"], "a") == ["a"] and views.compare_defaults([], None) == []


def test_pareto_front_matches_brute_force():
    import random

    rng = random.Random(0)
    for _ in range(50):
        pts = [(rng.choice([1, 2, 3, 4, 5]), rng.choice([1, 2, 3, 4])) for _ in range(rng.randint(1, 9))]
        for lower in (True, False):
            s = 1 if lower else -1

            def dominated(i):
                ci, ai = pts[i]
                return any((s * cj <= s * ci and aj >= ai and (s * cj < s * ci or aj > ai)) for cj, aj in pts)

            want = {i for i in range(len(pts)) if not dominated(i)}
            got = set(charts.pareto_front(pts, lower))
            # duplicates of a front point: the front keeps one representative
            assert {pts[i] for i in got} == {pts[i] for i in want}


def _label_overlap(xs, ys, names, positions):
    fx, fy = charts._fractions(xs, False), charts._fractions(ys, False)
    boxes = [charts._label_box(fx[i], fy[i], len(names[i]), positions[i]) for i in range(len(xs))]
    m = charts._MARKER
    marks = [(x - m, y - m, x + m, y + m) for x, y in zip(fx, fy)]
    return (sum(charts._overlap(boxes[i], boxes[j]) for i in range(len(xs)) for j in range(i + 1, len(xs)))
            + sum(charts._overlap(boxes[i], marks[j]) for i in range(len(xs)) for j in range(len(xs)) if i != j))


def test_scatter_labels_move_apart_where_points_crowd():
    # far apart: every label stays above its point
    assert charts.label_positions([1, 5, 9], [1, 5, 9], ["a", "b", "c"]) == ["top center"] * 3
    # the cheap end of the real chart: five models within 0.2 GFLOPs and 7 R@1 points of each other
    xs, ys = [0.037, 0.124, 0.151, 0.194, 0.262, 2.27, 0.192], [7.4, 6.8, 1.7, 2.65, 33.5, 0.55, 66.6]
    names = ["MobileNetV3-Small", "MobileNetV3-Large", "MobileNetV2", "EfficientNet-B0", "FastViT-T8",
             "CLIP ViT-B/32 (image tower) (reference)", "EfficientNet-Lite0 (ImageNet)"]
    naive = _label_overlap(xs, ys, names, ["top center"] * len(xs))
    placed = charts.label_positions(xs, ys, names)
    assert naive > 0.005 and _label_overlap(xs, ys, names, placed) < naive / 20
    assert set(placed) <= set(charts.LABEL_POSITIONS)
    fig = charts.tradeoff_figure({"records": [{"backbone": n, "r1": y, "gflops": x} for n, x, y in zip(names, xs, ys)]})
    assert list(fig.data[1].textposition) == placed


def test_charts_say_which_models_were_distilled_and_from_what():
    doc = {"records": [
        {"backbone": "efficientnet_lite0", "display_name": "EfficientNet-Lite0 (ImageNet)", "r1": 60.0, "gflops": 0.2,
         "recipe_short": "ImageNet", "distilled_from": [], "train_images": 40000, "train_minutes": 40.0},
        {"backbone": "mobilenetv3_small_100", "display_name": "MobileNetV3-Small", "r1": 20.0, "gflops": 0.03,
         "recipe_short": "scratch + KD ← EfficientNet-Lite0 (ImageNet)", "distilled_from": ["EfficientNet-Lite0 (ImageNet)"],
         "train_images": 40000, "train_minutes": 12.0},
        {"backbone": "clip-vit-b-32", "display_name": "CLIP", "r1": 5.0, "gflops": 4.0, "zero_shot": True},
    ]}
    fig = charts.tradeoff_figure(doc, "r1", "gflops")
    assert list(fig.data[1].marker.symbol) == ["circle", "diamond", "circle"]
    assert "trained: scratch + KD ← EfficientNet-Lite0 (ImageNet) · 40,000 images, 12 min" in fig.data[1].hovertext[1]
    note = charts.recipe_note(doc)
    assert note.startswith("Training (◆") and "MobileNetV3-Small: scratch + KD ← EfficientNet-Lite0 (ImageNet)" in note
    assert "CLIP" not in note
    headers, rows = charts.table(doc)
    assert rows[1][headers.index("Trained (start + teachers)")] == "scratch + KD ← EfficientNet-Lite0 (ImageNet)"
