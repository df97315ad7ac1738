"""The ``camera`` SynthPedes renderer: shaded people on photographs, seen through a street camera.

Same identities, same captions as the ``draw`` renderer (``Renderer`` in drawing.py): it takes the
picture's plan from ``Renderer.plan`` (every draw from the picture's generator, in the same order), so
the captions written after the picture, the facts and the counterfactuals are byte-identical, and takes
its own extra randomness (texture offsets, gait, camera height, degradations) from a child generator
(``rng.spawn``), which leaves the picture's generator untouched.

What it models: a light direction with soft self-shading of every body part (each limb, the torso and
the head are rounded volumes, lit with a Lambert term and, on leather, a highlight), a soft ground
shadow and contact shadows; fabric by garment type (denim twill and fading, knit ribs, leather sheen,
wool and cotton folds); hair with strands and sheen; skin, eyes and brows at the scale of a 256 px
person; 8-head proportions, a walking gait with bent knees; an elevated camera (head and shoulders a
little larger, legs foreshortened, feet on a ground plane in perspective); photographic backgrounds
(backgrounds/, see its README.md); and the camera: lower resolution (rendered, shrunk, enlarged),
motion blur, defocus, sensor noise, JPEG blocks, colour casts and exposure.

What it does not: real 3D bodies or cloth simulation, faces a person could recognise, hands with
fingers, occlusion by the scene's own objects, other people's shadows, night and rain. Numbers measured
on its pictures are numbers about synthetic people.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import replace

import numpy as np
from PIL import Image, ImageFilter

from .drawing import Renderer
from .shots import RGB, Figure, Occluder, Shot, ShotPlan, contrasting
from .identities import Identity
from .vocabulary import SKIN_TONES
from .camera_details import AccessoryPainter
from .camera_paint import (FABRICS, LOWER_FABRIC, UPPER_FABRIC, Canvas, Fabric, Patch, Pose, Textures, clip01, front_limbs,
                           lit_colour, rgb_of, side_limbs)
from .camera_scene import PhotoBank, load_photos, resize_photo


class CameraRenderer(AccessoryPainter, Renderer):
    """Paints `Renderer.plan`'s pictures with shaded volumes on photos and a camera model (module doc)."""

    def __init__(self, size: tuple[int, int] = (256, 128), seed: int = 0) -> None:
        super().__init__(size, seed)  # the draw renderer's bank: its crops are planned (and drawn) from it
        self.photos = PhotoBank(size, seed)
        self.tex = Textures(seed)
        h, w = size
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5E75]))
        self.sensor = rng.normal(0, 1, size=(h * 2, w * 2, 3)).astype(np.float32)

    def render(self, ident: Identity, rng: np.random.Generator, view: str | None = None) -> tuple[Image.Image, Shot]:
        own = rng.spawn(1)[0]  # this picture's own stream; `rng` itself is not advanced by spawning
        plan = self.plan(ident, rng, view)
        return self.paint_camera(ident, plan, own), self.shot(ident, plan)

    # ---- the picture ---------------------------------------------------------------------------

    def paint_camera(self, ident: Identity, plan: ShotPlan, rng: np.random.Generator) -> Image.Image:
        """Background, ground shadow, the person back to front, occluder, then the camera.

        The scene is painted at the camera's own resolution (a street camera sees a passer-by a few dozen
        pixels wide) and enlarged to the dataset's size at the end, as a real crop is."""
        h, w = self.size
        factor = float(rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], p=[0.08, 0.22, 0.3, 0.25, 0.15]))
        hs, ws = max(24, round(h / factor)), max(12, round(w / factor))
        k = hs / h
        c = plan.crop
        bg = self.photos.cut(c.scene, c.x / max(c.x_max, 1), c.y / max(c.y_max, 1), c.mirrored, (hs, ws))
        # The scene's own light: a soft vertical gradient and a tint.
        grad = np.linspace(1.08, 0.9, hs, dtype=np.float32)[:, None, None]
        # Daylight from above, to one side or the other, a little in front.
        light = np.array([rng.uniform(-0.6, 0.6), -rng.uniform(0.5, 0.8), 0.6], dtype=np.float32)
        n = Textures.SIZE
        ys = (np.arange(hs) + int(rng.integers(0, n))) % n
        xs = (np.arange(ws) + int(rng.integers(0, n))) % n
        wobble = self.tex.soft[ys[:, None], xs[None, :]] * (0.45 * k ** 0.5)
        canvas = Canvas((bg * grad * rng.uniform(0.9, 1.08, 3).astype(np.float32)).astype(np.float32),
                        light / np.linalg.norm(light), wobble)
        g = replace(plan.figure, H=hs, W=ws, ph=plan.figure.ph * k, top=plan.figure.top * k, cx=plan.figure.cx * k)
        occ = plan.occluder
        occ = replace(occ, **{f: getattr(occ, f) * k for f in ("x", "width", "top") if getattr(occ, f) is not None})
        pose = self._pose(ident, g, rng)
        self._ground_shadow(canvas, pose, g)
        self._person(canvas, ident, g, plan.umbrella, pose, rng)
        # Light bounced off the surroundings tints the person toward the scene's colour.
        env = bg.reshape(-1, 3).mean(0)
        env = 1.0 + 0.3 * (env / max(float(env.mean()), 1e-3) - 1.0)
        canvas.rgb *= (1.0 + (env - 1.0) * canvas.body[..., None]).astype(np.float32)
        self._occluder(canvas, g, occ, rng)
        return self._camera_effects(canvas.rgb, plan, k, rng)

    def _pose(self, ident: Identity, g: Figure, rng: np.random.Generator) -> Pose:
        """Joints from the planned figure: 8-head proportions, gait, and the camera's elevation (a
        larger head and shoulders, shorter legs: the feet stay where the plan put them)."""
        ph, top, cx = g.ph, g.top, g.cx
        elev = rng.uniform(0.08, 0.3)

        def Y(f: float) -> float:  # noqa: N802 - a height on the body, foreshortened by the elevation
            return top + ph * (1 + elev) * f / (1 + elev * f)

        def sx(f: float) -> float:  # widths shrink with distance from the camera (feet are farther)
            return 1.0 + elev * 0.7 * (0.45 - f)

        L = ph
        side = g.side
        face = g.face
        head_c = (cx + (face * L * 0.01 if side else 0.0), Y(0.064))
        head_r = (L * (0.05 if side else 0.052) * sx(0.06), L * 0.066 * sx(0.06))
        neck = (cx, Y(0.125))
        sh_y, hip_y = Y(0.168), Y(0.5)
        knee_y, ankle_y = Y(0.73), Y(0.965)
        stride = g.stride * (1.0 + rng.uniform(-0.15, 0.15))
        swing = stride * g.phase
        limbs = side_limbs if side else front_limbs
        shoulders, hips, legs, elbows, hands, near = limbs(g, L, sx, swing, sh_y, hip_y, knee_y, ankle_y)
        if ident.carry == "phone" and g.view != "back":  # the phone hand comes up to the chest
            k = 1
            hands[k] = (cx + (face * L * 0.06 if side else L * 0.04), Y(0.33))
            elbows[k] = (elbows[k][0] + (face * L * 0.02 if side else 0.0), Y(0.38))
        return Pose(head_c, head_r, neck, shoulders, hips, [k for k, _ in legs], [a for _, a in legs],
                    elbows, hands, near, L, Y(0.42), hip_y)

    def _ground_shadow(self, cv: Canvas, pose: Pose, g: Figure) -> None:
        """A soft shadow on the ground, cast away from the light, and darker contact under the feet."""
        fy = max(a[1] for a in pose.ankles) + pose.scale * 0.02
        fx = sum(a[0] for a in pose.ankles) / 2
        length = pose.scale * 0.28
        # Away from the light, flattened onto the ground plane.
        p = cv.shape((fx, fy), (fx - cv.light[0] * length, fy + 0.15 * length), [0, 1],
                     [pose.scale * 0.07, pose.scale * 0.1])
        if p is not None:
            a = p.alpha * (0.45 * (1 - p.t * 0.6)) * np.clip(p.nz, 0, 1) ** 0.6
            cv.rgb[p.ys, p.xs] *= (1.0 - a)[..., None]
        for ax_, ay_ in pose.ankles:
            q = cv.ellipse((ax_, ay_ + pose.scale * 0.03), pose.scale * 0.045, pose.scale * 0.014)
            if q is not None:
                cv.rgb[q.ys, q.xs] *= (1.0 - 0.45 * q.alpha * q.nz)[..., None]

    # ---- materials -----------------------------------------------------------------------------

    def _cloth(self, p: Patch | None, colour: RGB, fabric: Fabric, offs: tuple[int, int], scale: float,
               pattern: str = "plain", vertical_folds: bool = False) -> np.ndarray | None:
        """A garment's colour under light: texture, folds, pattern, sheen."""
        if p is None:
            return None
        base = rgb_of(colour)
        oy, ox = offs
        k = scale / 200.0  # features scale with the person
        # Weave, ribs and twill are under a pixel on a person under 100 px tall: only folds and fading show.
        fine = scale >= 100
        grain = self.tex.sample(self.tex.fine, p, oy, ox) if fine else 0.0
        tone = 1.0 + fabric.grain * grain if fine else np.ones_like(p.alpha)
        if fabric.folds:
            # Creases: soft noise stretched across the garment (sleeves and legs crease across, coats and
            # dresses hang in vertical folds); the spacing scales with the person.
            fast, slow = 16.0 / (fabric.fold_px * k), 2.0 / (fabric.fold_px * k)
            along, across = (slow, fast) if vertical_folds else (fast, slow)
            folds = self.tex.local(self.tex.soft, p, along, across, oy + 31, ox + 17)
            tone = tone - fabric.folds * np.clip(folds, -1.0, 1.5)
        if fabric.ribs and fine:
            tone = tone - fabric.ribs * (0.5 + 0.5 * np.sin(p.across / (1.2 * k + 0.35) * math.pi))
        if fabric.twill and fine:
            tone = tone + fabric.twill * np.sin((p.along + p.across) / (1.1 * k + 0.4) * math.pi)
        if fabric.fade:
            tone = tone + fabric.fade * np.clip(1.0 - np.abs(p.nx) * 1.6, 0, 1) * (0.5 + 0.5 * grain * 0.3)
        col = base[None, None, :] * tone[..., None]
        if pattern != "plain":
            other = rgb_of(contrasting(colour))
            period = max(3.0, 7.0 * k)
            stripe = (np.sin(p.along / period * 2 * math.pi) > 0.1).astype(np.float32)
            if pattern == "checked":
                check = (np.sin(p.across / period * 2 * math.pi) > 0.1).astype(np.float32)
                mix = 0.5 * stripe + 0.5 * check
            else:
                mix = stripe
            col = col + (other - base)[None, None, :] * (mix * 0.85)[..., None] * tone[..., None]
        return lit_colour(p, col, ambient=0.4, shine=fabric.shine)

    def _skin(self, p: Patch | None, g: Figure) -> np.ndarray | None:
        if p is None:
            return None
        # Skin scatters light: a higher ambient term and a warm shadow.
        col = lit_colour(p, rgb_of(g.skin), ambient=0.55)
        return col * np.array([1.0, 0.97, 0.95], dtype=np.float32)

    def _plain(self, p: Patch | None, colour: RGB, shine: float = 0.05, grain: float = 0.02,
               offs: tuple[int, int] = (0, 0)) -> np.ndarray | None:
        if p is None:
            return None
        tone = 1.0 + grain * self.tex.sample(self.tex.fine, p, *offs)
        return lit_colour(p, rgb_of(colour)[None, None, :] * tone[..., None], ambient=0.4, shine=shine)

    # ---- the person, back to front ---------------------------------------------------------------

    def _person(self, cv: Canvas, ident: Identity, g: Figure, umbrella: RGB | None, pose: Pose,
                rng: np.random.Generator) -> None:
        offs = [(int(rng.integers(0, 256)), int(rng.integers(0, 256))) for _ in range(8)]
        upper_fab = FABRICS[UPPER_FABRIC.get(ident.upper_type, "cotton")]
        if ident.upper_type == "jacket":  # leather in dark colours, padded nylon otherwise
            upper_fab = FABRICS["leather" if ident.upper_colour in ("black", "brown") else "nylon"]
        lower_fab = FABRICS[LOWER_FABRIC.get(ident.lower_type, "cotton")]

        if ident.hair_style == "long" and g.view == "front":
            self._long_hair(cv, ident, g, pose, behind=True)
        if ident.bag == "backpack" and g.view != "back":
            self._backpack(cv, g, pose, behind=True)
        if g.side:  # the far arm, in shadow
            self._arm(cv, ident, g, pose, 0, upper_fab, offs[2], dim=0.8)
        for k in (0, 1):  # the far leg first in side views
            self._leg(cv, ident, g, pose, k, lower_fab, offs[1], dim=0.82 if g.side and k == 0 else 1.0)
        self._torso(cv, ident, g, pose, upper_fab, lower_fab, offs[0])
        arms = [1] if g.side else [0, 1]
        for k in arms:
            self._arm(cv, ident, g, pose, k, upper_fab, offs[2])
        self._bags(cv, ident, g, pose, offs[3])
        self._head(cv, ident, g, pose, offs[4])
        self._headwear(cv, ident, g, pose)
        self._carried(cv, ident, g, pose, umbrella)

    def _leg(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, k: int, fab: Fabric,
             offs: tuple[int, int], dim: float = 1.0) -> None:
        L = pose.scale * (1.0 if g.bw < 1 else g.bw ** 0.5)
        hip, knee, ankle = pose.hips[k], pose.knees[k], pose.ankles[k]
        lt = ident.lower_type
        covered = lt in ("trousers", "jeans")
        # bare leg underneath (thigh, shin)
        thigh_w = [L * 0.06, L * 0.04]
        shin_w = [L * 0.038, L * 0.024]
        if not covered:
            for a, b, ws in ((hip, knee, thigh_w), (knee, ankle, shin_w)):
                p = cv.shape(a, b, [0, 1], ws)
                col = self._skin(p, g)
                if col is not None:
                    cv.fill(p, col * dim)
        if lt in ("trousers", "jeans", "shorts"):
            slim = 0.92 if lt == "jeans" else 1.05
            if lt == "shorts":
                end = (hip[0] + (knee[0] - hip[0]) * 0.62, hip[1] + (knee[1] - hip[1]) * 0.62)
                p = cv.shape(hip, end, [0, 1], [L * 0.066, L * 0.06], round_ends=(True, False))
                col = self._cloth(p, g.lower, fab, offs, pose.scale)
                if col is not None:
                    cv.fill(p, col * dim)
            else:
                for a, b, ws in ((hip, knee, [L * 0.066 * slim, L * 0.05 * slim]),
                                 (knee, ankle, [L * 0.049 * slim, L * (0.037 if lt == "jeans" else 0.042)])):
                    p = cv.shape(a, b, [0, 1], ws, round_ends=(True, b is knee))
                    col = self._cloth(p, g.lower, fab, offs, pose.scale)
                    if col is not None:
                        cv.fill(p, col * dim)
                if lt == "jeans":  # the outer seam and a turned-up hem
                    sgn = -1 if k == 0 else 1
                    if not g.side and L >= 80:
                        q = cv.shape((hip[0] + sgn * L * 0.05, hip[1]), (ankle[0] + sgn * L * 0.028, ankle[1] - L * 0.01),
                                     [0, 1], [0.6, 0.6])
                        if q is not None:
                            cv.rgb[q.ys, q.xs] *= (1 - 0.25 * q.alpha * cv.body[q.ys, q.xs])[..., None]
        self._shoe(cv, ident, g, pose, k, dim)

    def _shoe(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, k: int, dim: float) -> None:
        L = pose.scale
        ax_, ay_ = pose.ankles[k]
        st = ident.shoes_type
        toe = g.face if g.side else 0
        length = L * (0.075 if g.side else 0.04)
        if st == "boots":  # the shaft over the ankle
            p = cv.shape((ax_, ay_ - L * 0.075), (ax_, ay_ + L * 0.01), [0, 1], [L * 0.03, L * 0.028])
            col = self._plain(p, g.shoes, shine=0.3, grain=0.02)
            if col is not None:
                cv.fill(p, col * dim)
        if st == "sandals":
            p = cv.shape((ax_ - toe * L * 0.01, ay_), (ax_ + toe * length, ay_ + L * 0.025), [0, 1], [L * 0.018, L * 0.016])
            col = self._skin(p, g)
            if col is not None:
                cv.fill(p, col * dim)
            q = cv.shape((ax_ - L * 0.02, ay_ + L * 0.022), (ax_ + toe * length + L * 0.02 * (1 - abs(toe)), ay_ + L * 0.024),
                         [0, 1], [L * 0.007, L * 0.007])
            col = self._plain(q, g.shoes)
            if col is not None:
                cv.fill(q, col * dim)
            return
        a = (ax_ - toe * L * 0.018, ay_ + L * 0.012)
        b = (ax_ + toe * length, ay_ + L * 0.02) if g.side else (ax_, ay_ + L * 0.025)
        w = L * 0.022 if g.side else L * 0.026
        p = cv.shape(a, b, [0, 1], [w, w * 0.85])
        col = self._plain(p, g.shoes, shine={"shoes": 0.35, "boots": 0.25, "sneakers": 0.05}.get(st, 0.05))
        if col is not None:
            cv.fill(p, col * dim)
        if st == "sneakers" and p is not None:  # a white rubber sole: the downward-facing part of the shoe
            sole = clip01((p.ny - 0.25) * 3.0)
            cv.fill(p, np.full(p.alpha.shape + (3,), 0.88, dtype=np.float32) * dim, clip=sole)

    def _torso(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, fab: Fabric, lower_fab: Fabric,
               offs: tuple[int, int]) -> None:
        L = pose.scale
        bw = g.bw
        cx = g.cx
        sh_y = pose.shoulders[0][1]
        hip_y = pose.hip_y
        ut = ident.upper_type
        if g.side:
            sh, chest, waist, hip = L * 0.062 * bw, L * 0.075 * bw, L * 0.065 * bw, L * 0.07 * bw
            cx_t = cx - g.face * L * 0.005
        else:
            sh = abs(pose.shoulders[1][0] - pose.shoulders[0][0]) / 2 + L * 0.012
            chest = sh * 0.92
            waist = sh * (0.7 if g.woman else 0.8)
            hip = (abs(pose.hips[1][0] - pose.hips[0][0]) / 2 + L * 0.05) * 1.0
            cx_t = cx
        # Skirt first (the top's hem goes over its waistband).
        if ident.lower_type == "skirt":
            top, bot = (cx, hip_y - L * 0.03), (cx, pose.hip_y + L * 0.2)
            p = cv.shape(top, bot, [0, 1], [hip * 0.95, hip * 1.45], round_ends=(False, False), flat=0.7)
            col = self._cloth(p, g.lower, lower_fab, offs, L, vertical_folds=True)
            if col is not None:
                cv.fill(p, col)
        bottom_f = {"coat": 0.78, "jacket": 0.53, "hoodie": 0.53, "dress": 0.73}.get(ut, 0.52)
        bottom_y = g.top + bottom_f * g.ph * (pose.hip_y - g.top) / (0.5 * g.ph)
        if ut == "dress":
            ts = [0, 0.08, 0.3, 0.5, 0.62, 1.0]
            ws = [sh * 0.9, sh, chest, waist, hip * 1.02, hip * 1.55]
        elif ut == "coat":
            ts = [0, 0.08, 0.3, 0.45, 0.6, 1.0]
            ws = [sh * 0.95, sh * 1.04, chest * 1.05, waist * 1.08, hip * 1.12, hip * 1.28]
        else:
            ts = [0, 0.12, 0.45, 0.75, 1.0]
            loose = 1.05 if ut in ("hoodie", "jacket", "sweater") else 1.0
            ws = [sh * 0.8, sh * loose, chest * loose, waist * loose, hip * loose * 0.97]
        # A flat top: the shoulders' roundness comes from the sleeves' caps.
        a, b = (cx_t, sh_y - L * 0.025), (cx_t, bottom_y)
        p = cv.shape(a, b, ts, ws, round_ends=(g.side, False), flat=0.6)
        pattern = ident.upper_pattern
        col = self._cloth(p, g.upper, fab, offs, L, pattern=pattern, vertical_folds=ut in ("coat", "dress"))
        if col is None:
            return
        # Under the chest and above the hem: ambient occlusion of a rounded body.
        col = col * (1.0 - 0.12 * np.clip((p.t - 0.45) * 2, 0, 1))[..., None]
        cv.fill(p, col)
        # Shadow of the head on the upper chest.
        cv.darken(cv.ellipse((cx_t - cv.light[0] * L * 0.01, sh_y + L * 0.005), L * 0.04, L * 0.025), 0.35)
        self._garment_details(cv, ident, g, pose, p, sh, waist, bottom_y)

    def _garment_details(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, torso: Patch, sh: float,
                         waist: float, bottom_y: float) -> None:
        """What tells the garment types apart: zip and lapels, buttons, collar, kangaroo pocket, hood,
        ribbed hem, neckline."""
        L = pose.scale
        cx = g.cx
        sh_y = pose.shoulders[0][1]
        ut = ident.upper_type
        upper = rgb_of(g.upper)
        dark = upper * 0.45

        def line(a, b, width, colour, amount=1.0):
            q = cv.shape(a, b, [0, 1], [width, width])
            if q is not None:
                cv.fill(q, lit_colour(q, np.broadcast_to(colour, q.alpha.shape + (3,)).astype(np.float32), ambient=0.6),
                        clip=np.full_like(q.alpha, amount))

        if g.view == "front":
            if ut in ("jacket", "coat"):
                line((cx, sh_y + L * 0.02), (cx, bottom_y - 1), max(0.7, L * 0.004), dark)  # opening
                for sgn in (-1, 1):  # lapels / collar
                    line((cx + sgn * sh * 0.45, sh_y - L * 0.01), (cx + sgn * L * 0.008, sh_y + L * 0.075), max(0.8, L * 0.006),
                         upper * 0.7 if ut == "coat" else rgb_of(contrasting(g.upper)) * 0.8 + upper * 0.2)
                if ut == "coat" and L >= 80:  # buttons: below a pixel on a smaller person
                    for by in (0.27, 0.34, 0.41, 0.48):
                        yb = pose.neck[1] + (by - 0.135) * L * 1.05
                        q = cv.ellipse((cx + L * 0.018, yb), max(0.8, L * 0.007), max(0.8, L * 0.007))
                        cv.fill(q, np.broadcast_to(upper * 0.35, q.alpha.shape + (3,)).astype(np.float32) if q else None)
                elif ut == "jacket" and L >= 80:  # a zip pull catches the light
                    line((cx, sh_y + L * 0.08), (cx, sh_y + L * 0.1), max(0.7, L * 0.004),
                         np.array([0.8, 0.8, 0.8], np.float32))
            elif ut == "shirt":
                other = rgb_of(contrasting(g.upper)) * 0.6 + upper * 0.4
                for sgn in (-1, 1):
                    line((cx + sgn * L * 0.035, sh_y - L * 0.012), (cx + sgn * L * 0.006, sh_y + L * 0.03),
                         max(0.8, L * 0.008), other)
                line((cx, sh_y + L * 0.03), (cx, bottom_y - 1), max(0.6, L * 0.003), upper * 0.65)
            elif ut == "hoodie":
                q = cv.shape((cx - waist * 0.55, pose.waist_y + L * 0.02), (cx + waist * 0.55, pose.waist_y + L * 0.02),
                             [0, 1], [L * 0.035, L * 0.035], round_ends=(False, False))
                if q is not None:
                    cv.rgb[q.ys, q.xs] *= (1 - 0.2 * q.alpha * (np.abs(q.across) > L * 0.03))[..., None]
                for sgn in (-1, 1) if L >= 80 else ():  # drawstrings
                    line((cx + sgn * L * 0.018, sh_y + L * 0.005), (cx + sgn * L * 0.02, sh_y + L * 0.08), max(0.6, L * 0.003),
                         np.array([0.88, 0.88, 0.86], np.float32))
            elif ut in ("t-shirt", "dress", "sweater"):
                q = cv.ellipse((cx, sh_y - L * 0.012), L * 0.038, L * 0.03)
                if q is not None:
                    below = np.clip((q.along + L * 0.004) / 1.0, 0, 1)
                    col = self._skin(q, g)
                    cv.fill(q, col, clip=below)
        if ut == "hoodie" and g.view != "front":  # the hood lying on the back/shoulders
            hx = cx - (g.face * L * 0.035 if g.side else 0)
            q = cv.ellipse((hx, sh_y + L * 0.005), L * (0.045 if g.side else 0.06), L * 0.04)
            cv.fill(q, lit_colour(q, np.broadcast_to(upper * 0.85, q.alpha.shape + (3,)).astype(np.float32)) if q else None)
        if ut == "sweater":  # ribbed hem band
            q = cv.shape((cx - waist * 1.05, bottom_y - L * 0.012), (cx + waist * 1.05, bottom_y - L * 0.012), [0, 1],
                         [L * 0.011, L * 0.011], round_ends=(False, False))
            if q is not None:
                cv.rgb[q.ys, q.xs] *= (1 - 0.18 * q.alpha * (np.sin(q.along / 1.4) > 0))[..., None]

    def _arm(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, k: int, fab: Fabric, offs: tuple[int, int],
             dim: float = 1.0) -> None:
        L = pose.scale * g.bw ** 0.5
        sh = pose.shoulders[k]
        if not g.side:  # the arm hangs from inside the shoulder's edge, close to the body
            sh = (sh[0] - (1 if k else -1) * L * 0.012, sh[1] + L * 0.022)
        el, hand = pose.elbows[k], pose.hands[k]
        bulk = 1.2 if ident.upper_type in ("coat", "jacket", "hoodie") else 1.0
        if not g.side or k == 1:
            # The arm's soft shadow on the torso beside it, on the side away from the light (drawn
            # first: the arm then covers all but the shadow's edge).
            shift = -cv.light[0] * L * 0.03
            d = cv.shape((sh[0] + shift, sh[1] + L * 0.02), (el[0] + shift, el[1] + L * 0.02), [0, 1],
                         [L * 0.045, L * 0.04])
            cv.darken(d, 0.3)
        # skin first, the sleeve over it (a long sleeve ends where the hand begins: no skin between)
        bare = () if ident.sleeves == "long" else ((sh, el, [L * 0.034, L * 0.027]), (el, hand, [L * 0.026, L * 0.02]))
        for a, b, ws in bare:
            p = cv.shape(a, b, [0, 1], ws)
            col = self._skin(p, g)
            if col is not None:
                cv.fill(p, col * dim)
        if ident.sleeves == "long":
            cuff = (el[0] + (hand[0] - el[0]) * 0.82, el[1] + (hand[1] - el[1]) * 0.82)
            segs = [(sh, el, [L * 0.041 * bulk, L * 0.034 * bulk]), (el, cuff, [L * 0.03 * bulk, L * 0.025 * bulk])]
        else:
            mid = (sh[0] + (el[0] - sh[0]) * 0.5, sh[1] + (el[1] - sh[1]) * 0.5)
            segs = [(sh, mid, [L * 0.042, L * 0.038])]
        for i, (a, b, ws) in enumerate(segs):
            p = cv.shape(a, b, [0, 1], ws, round_ends=(True, i == 0 and len(segs) > 1))
            pattern = "plain" if ident.upper_pattern == "plain" else "striped"  # sleeves: stripes show, checks too
            col = self._cloth(p, g.upper, fab, offs, pose.scale, pattern=pattern)
            if col is not None:
                cv.fill(p, col * dim)
        q = cv.ellipse(hand, L * 0.019, L * 0.022)
        col = self._skin(q, g)
        if col is not None:
            cv.fill(q, col * dim)

    # ---- in front of the person ------------------------------------------------------------------

    def _occluder(self, cv: Canvas, g: Figure, occ: Occluder, rng: np.random.Generator) -> None:
        """The planned pole, passer-by or obstacle: lit volumes, the passer-by out of focus."""
        H, W = cv.h, cv.w
        if occ.kind == "pole":
            pw = occ.width / 2
            p = cv.shape((occ.x, -2), (occ.x, H + 2), [0, 1], [pw, pw], round_ends=(False, False))
            if p is not None:
                cv.fill(p, lit_colour(p, np.broadcast_to(rgb_of(occ.colour), p.alpha.shape + (3,)).astype(np.float32), shine=0.35,
                                power=12), body=False)
        elif occ.kind == "person":
            ow = occ.width
            x = -ow * 0.2 if occ.left else W + ow * 0.2
            layer = Canvas(cv.rgb.copy(), cv.light)
            L = g.ph * rng.uniform(1.0, 1.15)  # nearer the camera than the person
            top = g.top - L * 0.02
            p = layer.shape((x, top + L * 0.2), (x, H + 10), [0, 0.2, 1], [ow * 0.7, ow, ow * 0.9], flat=0.8)
            col = self._plain(p, occ.colour, grain=0.03)
            if col is not None:
                legs = clip01((p.t - 0.55) * 8)[..., None]  # darker trousers below the hips
                layer.fill(p, col * (1 - 0.55 * legs))
            hxp = x + (ow * 0.3 if occ.left else -ow * 0.3)
            q = layer.ellipse((hxp, top + L * 0.09), L * 0.05, L * 0.065)
            if q is not None:
                layer.fill(q, lit_colour(q, rgb_of(SKIN_TONES[occ.skin]), ambient=0.55))
                hair = layer.ellipse((hxp, top + L * 0.07), L * 0.053, L * 0.055)
                if hair is not None:
                    layer.fill(hair, lit_colour(hair, rgb_of((40, 30, 25))), clip=(hair.along < -L * 0.01).astype(np.float32))
            # out of focus: it is much nearer than the focus distance
            blurred = Image.fromarray(np.clip(layer.rgb * 255, 0, 255).astype(np.uint8)).filter(
                ImageFilter.GaussianBlur(rng.uniform(1.0, 2.5) * H / self.size[0]))
            cv.rgb = np.asarray(blurred, dtype=np.float32) / 255.0
        elif occ.kind == "obstacle":
            top = occ.top
            p = cv.shape((-10, top + (H - top) * 0.5), (W + 10, top + (H - top) * 0.5), [0, 1], [(H - top) * 0.5 + 4] * 2,
                         round_ends=(False, False), flat=0.5)
            if p is not None:
                # A wall, a planter or a bench in front: one of the wall photos, tinted by the planned colour.
                walls = load_photos("wall_brick") + load_photos("wall_stone") + load_photos("wall_wood")
                wall = walls[int(rng.integers(len(walls)))]
                surface = wall[:p.alpha.shape[0], :p.alpha.shape[1]]
                if surface.shape[:2] != p.alpha.shape:
                    surface = resize_photo(wall, p.alpha.shape)
                base = surface * 0.5 + rgb_of(occ.colour)[None, None, :] * surface.mean(axis=2, keepdims=True) * 1.1
                col = lit_colour(p, base, ambient=0.5, shine=0.1)
                # the top edge catches the light
                col = col * (1 + 0.25 * np.clip(1 - (p.across + (H - top) * 0.5) / 3, 0, 1))[..., None]
                cv.fill(p, col, body=False)

    # ---- the camera ----------------------------------------------------------------------------

    def _camera_effects(self, rgb: np.ndarray, plan: ShotPlan, k: float, rng: np.random.Generator) -> Image.Image:
        """Exposure, gamma and colour cast, defocus or motion blur, sensor noise and JPEG blocks at the
        camera's resolution, then enlarged to the dataset's size."""
        cam = plan.camera
        h, w = self.size
        mean_gain = float(np.mean(cam.gain))
        exposure = mean_gain * rng.uniform(0.9, 1.15)
        cast = cam.gain / mean_gain * rng.uniform(0.94, 1.06, 3)  # the plan's colour cast, and a little more
        gamma = rng.uniform(0.85, 1.2)
        # One lookup table per channel (exposure, gamma, cast, black level) instead of float maths per pixel.
        ramp = np.linspace(0.0, 1.0, 256) ** gamma * exposure
        lut = np.clip((ramp[None, :] * cast[:, None] + cam.offset / 255.0) * 255, 0, 255).astype(np.uint8)  # (3, 256)
        arr8 = np.clip(rgb * 255, 0, 255).astype(np.uint8)
        img = Image.fromarray(np.stack([lut[c][arr8[..., c]] for c in range(3)], axis=-1))
        # Street cameras render colours flatter than the eye sees them.
        sat = rng.uniform(0.7, 1.0)
        if sat < 0.98:
            grey = img.convert("L").convert("RGB")
            img = Image.blend(grey, img, sat)
        if cam.blur is not None:  # defocus: the plan's blur radius, at this resolution
            img = img.filter(ImageFilter.GaussianBlur(cam.blur * rng.uniform(0.8, 1.5) * max(k, 0.5)))
        arr = np.asarray(img, dtype=np.float32)
        if plan.action == "walking" and rng.random() < 0.35:  # motion blur along the walk
            n = int(rng.integers(2, 4))
            axis = 1 if plan.view in ("left", "right") else 0
            arr = sum(np.roll(arr, i - n // 2, axis=axis) for i in range(n)) / n
        # Sensor noise: shot noise grows with brightness, read noise does not.
        hs, ws = arr.shape[:2]
        ny, nx = cam.noise_yx
        noise = self.sensor[ny : ny + hs, nx : nx + ws]
        sigma = rng.uniform(1.5, 6.0)
        arr = arr + noise * (sigma * (0.5 + np.sqrt(arr * (1 / 255.0))))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        # The camera's own compression, at its own resolution, before the dataset's.
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(30, 80)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        if img.size != (w, h):
            img = img.resize((w, h), Image.Resampling.BILINEAR)
        return img


class MixedRenderer(CameraRenderer):
    """Half the pictures drawn, half through the camera, fixed per picture name (``crc32(name) % 2``), so
    a set made with it is its draw-rendered twin with every other picture swapped for the camera's. Both
    halves take the same plan from the picture's generator, so the captions equal both renderers'."""

    def __init__(self, size: tuple[int, int] = (256, 128), seed: int = 0) -> None:
        super().__init__(size, seed)
        self.draw = Renderer(size, seed)  # the camera renderer's own part painters take other arguments

    def render_named(self, name: str, ident: Identity, rng: np.random.Generator,
                     view: str | None = None) -> tuple[Image.Image, Shot]:
        if zlib.crc32(name.encode()) % 2:
            return self.render(ident, rng, view)
        return self.draw.render(ident, rng, view)
