"""The ``draw`` renderer: `Renderer.plan` makes every random choice of a picture in a fixed order, and
the renderer paints the plan as flat PIL figures on procedural scenes. Other renderers (camera.py)
paint the same plan, so their captions are the same."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .vocabulary import COLOURS, SKIN_TONES, VIEWS
from .identities import Identity, _pick


from .shots import (RGB, CameraDraw, Crop, Figure, Occluder, Shot, ShotPlan, contrasting, darker_colour, mix_colours,
                    shade)


class BackgroundBank:
    """A few large textured scenes per process; each picture crops one (cheap and deterministic)."""

    KINDS = ("street", "wall", "grass", "pavement", "sky")

    def __init__(self, size: tuple[int, int], seed: int, count: int = 20) -> None:
        h, w = size
        self.size = size
        self.big = (int(h * 1.3), int(w * 1.6))
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xBA5E]))
        self.scenes = [self._scene(self.KINDS[i % len(self.KINDS)], rng) for i in range(count)]
        self.noise = rng.normal(0, 1, size=(h * 2, w * 2, 3)).astype(np.float32)

    def _scene(self, kind: str, rng: np.random.Generator) -> Image.Image:
        H, W = self.big
        img = Image.new("RGB", (W, H))
        d = ImageDraw.Draw(img)
        ground = int(H * rng.uniform(0.55, 0.7))
        if kind in ("street", "sky", "grass"):
            top = tuple(int(v) for v in rng.integers(60, 200, 3)) if kind == "street" else (
                int(rng.integers(110, 170)), int(rng.integers(160, 200)), int(rng.integers(210, 250))
            )
            bottom = mix_colours(top, (230, 230, 225), 0.5)
            for y in range(ground):
                d.line([(0, y), (W, y)], fill=mix_colours(top, bottom, y / max(1, ground)))
        if kind == "street":  # building facade with windows
            wall = tuple(int(v) for v in rng.integers(90, 210, 3))
            d.rectangle([0, 0, W, ground], fill=wall)
            ww, wh = int(W * rng.uniform(0.1, 0.16)), int(H * rng.uniform(0.07, 0.1))
            for y in range(int(H * 0.04), ground - wh, int(wh * 1.8)):
                for x in range(int(W * 0.05), W - ww, int(ww * 1.9)):
                    d.rectangle([x, y, x + ww, y + wh], fill=darker_colour(wall, rng.uniform(0.3, 0.6)))
        elif kind == "wall":  # bricks
            brick = (int(rng.integers(120, 180)), int(rng.integers(50, 90)), int(rng.integers(30, 60)))
            mortar = (180, 175, 165)
            d.rectangle([0, 0, W, ground], fill=mortar)
            bh, bw = max(3, H // 40), max(6, W // 8)
            for row, y in enumerate(range(0, ground, bh + 1)):
                off = (bw // 2) * (row % 2)
                for x in range(-off, W, bw + 1):
                    d.rectangle([x, y, x + bw - 1, y + bh - 1], fill=shade(brick, rng, 0.8))
        elif kind == "grass":
            d.rectangle([0, ground - int(H * 0.1), W, ground], fill=(70, 110, 60))  # hedge
        # ground: pavement tiles, grass or asphalt
        g_col = {
            "street": (120, 120, 122),
            "wall": (150, 146, 140),
            "grass": (76, 132, 58),
            "pavement": (170, 160, 145),
            "sky": (140, 136, 128),
        }[kind]
        if kind == "pavement":
            d.rectangle([0, 0, W, H], fill=mix_colours(g_col, (255, 255, 255), 0.2))
            ground = int(H * 0.25)
        d.rectangle([0, ground, W, H], fill=g_col)
        if kind in ("street", "pavement", "wall"):
            step = max(6, W // 6)
            for y in range(ground, H, step // 2):
                d.line([(0, y), (W, y)], fill=darker_colour(g_col, 0.85))
            for x in range(0, W, step):
                d.line([(x, ground), (x, H)], fill=darker_colour(g_col, 0.85))
        arr = np.asarray(img, dtype=np.float32)
        grain = rng.normal(0, 9 if kind == "grass" else 5, size=arr.shape[:2] + (1,)).astype(np.float32)
        return Image.fromarray(np.clip(arr + grain, 0, 255).astype(np.uint8))

    def draw_crop(self, rng: np.random.Generator) -> "Crop":
        """Which scene, where and whether mirrored (the picture's background draws)."""
        h, w = self.size
        index = int(rng.integers(len(self.scenes)))
        scene = self.scenes[index]
        x = int(rng.integers(0, scene.width - w + 1))
        y = int(rng.integers(0, scene.height - h + 1))
        return Crop(index, x, y, bool(rng.random() < 0.5), scene.width - w, scene.height - h)

    def cut(self, crop: "Crop") -> Image.Image:
        """The planned crop's pixels."""
        h, w = self.size
        img = self.scenes[crop.scene].crop((crop.x, crop.y, crop.x + w, crop.y + h))
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if crop.mirrored else img


class Renderer:
    """Draws pictures of identities at a fixed (H, W) with PIL: one method per part, back to front."""

    def __init__(self, size: tuple[int, int] = (256, 128), seed: int = 0) -> None:
        self.size = size
        self.bank = BackgroundBank(size, seed)

    def plan(self, ident: Identity, rng: np.random.Generator, view: str | None = None) -> ShotPlan:
        """Make every random draw of a picture, in this order: view, action, background, figure,
        umbrella colour, occluder, camera. Changing it changes every generated picture (and caption)."""
        view = view or _pick(rng, VIEWS)
        action = "walking" if rng.random() < 0.7 else "standing"
        crop = self.bank.draw_crop(rng)
        g = Figure.draw(ident, rng, self.size, view, action)
        umbrella = shade(COLOURS[ident.carry_colour], rng) if ident.carry == "umbrella" else None
        occluder = self._draw_occluder(g, rng)
        camera = self._draw_camera(rng)
        return ShotPlan(view, action, crop, g, umbrella, occluder, camera)

    def shot(self, ident: Identity, plan: ShotPlan) -> Shot:
        """What the captions of a planned picture may say."""
        return Shot(view=plan.view, action=plan.action, occluder=plan.occluder.kind,
                    visible=self._visible(ident, plan.view, plan.occluder.kind))

    def render(self, ident: Identity, rng: np.random.Generator, view: str | None = None) -> tuple[Image.Image, Shot]:
        plan = self.plan(ident, rng, view)
        return self.paint(ident, plan), self.shot(ident, plan)

    def render_named(self, name: str, ident: Identity, rng: np.random.Generator,
                     view: str | None = None) -> tuple[Image.Image, Shot]:
        """The picture that will be saved as `name` (a renderer that mixes styles picks by name)."""
        return self.render(ident, rng, view)

    def paint(self, ident: Identity, plan: ShotPlan) -> Image.Image:
        """The flat PIL drawing of a planned picture."""
        view, g = plan.view, plan.figure
        img = self.bank.cut(plan.crop)
        d = ImageDraw.Draw(img)
        ankles = self._legs(d, ident, g)
        self._shoes(d, ident, g, ankles)
        if ident.bag == "backpack" and view != "back":
            self._backpack_behind(d, g)
        if g.side:
            self._arm(d, ident, g, g.cx, g.stride * g.phase * 0.9, far=True)
        self._torso(d, ident, g)
        hands = self._near_arms(d, ident, g)
        self._bags(d, ident, g, hands)
        self._head(d, ident, g)
        self._headwear(d, ident, g)
        self._carried(d, ident, g, hands, plan.umbrella)
        self._occluder(d, g, plan.occluder)
        return self._camera(img, plan.camera)

    @staticmethod
    def _legs(d: ImageDraw.ImageDraw, ident: Identity, g: Figure) -> list[tuple[float, float]]:
        """The lower garment (or bare legs); returns the ankle points."""
        L, cx, limb = g.L, g.cx, g.limb

        def leg(x_hip: float, angle: float, colour_thigh: RGB, colour_shin: RGB, far: bool) -> tuple[float, float]:
            k = (x_hip + math.sin(angle) * (g.yk - g.yh), g.yk)
            a = (k[0] + math.sin(angle * 0.8) * (g.ya - g.yk), g.ya - abs(math.sin(angle)) * L(0.02))
            f = 0.78 if far else 1.0
            d.line([(x_hip, g.yh), k], fill=darker_colour(colour_thigh, f), width=limb + 1, joint="curve")
            d.line([k, a], fill=darker_colour(colour_shin, f), width=limb, joint="curve")
            return a

        legs_covered = ident.lower_type in ("trousers", "jeans")
        thigh = g.lower if ident.lower_type in ("trousers", "jeans", "shorts") else g.skin
        shin = g.lower if legs_covered else g.skin
        if ident.shoes_type == "boots":
            shin = shin if legs_covered else g.shoes
        if g.side:
            return [
                leg(cx, -g.stride * g.phase, thigh, shin, far=True),
                leg(cx, g.stride * g.phase, thigh, shin, far=False),
            ]
        spread = L(0.045) * g.bw
        ankles = [
            leg(cx - spread, -0.04 - g.stride * 0.15, thigh, shin, far=False),
            leg(cx + spread, 0.04 + g.stride * 0.15, thigh, shin, far=False),
        ]
        if ident.lower_type == "jeans":  # outer seams
            for (ax, ay), sx in zip(ankles, (-1, 1)):
                top_x = cx + sx * spread
                d.line([(ax + sx * limb * 0.3, ay - L(0.02)), (top_x + sx * limb * 0.3, g.yh + L(0.02))], fill=darker_colour(g.lower, 0.75), width=1)
        return ankles

    @staticmethod
    def _shoes(d: ImageDraw.ImageDraw, ident: Identity, g: Figure, ankles: list[tuple[float, float]]) -> None:
        L = g.L
        for ax, ay in ankles:
            length = L(0.075) if g.side else L(0.045)
            x0 = ax - length * (0.3 if g.face > 0 else 0.7) if g.side else ax - length
            x1 = x0 + (length * 1.0 if g.side else 2 * length)
            if ident.shoes_type == "sandals":
                d.ellipse([x0, ay - L(0.01), x1, ay + L(0.03)], fill=g.skin)
                d.line([(x0, ay + L(0.008)), (x1, ay + L(0.008))], fill=g.shoes, width=max(1, int(L(0.012))))
            else:
                d.ellipse([x0, ay - L(0.012), x1, ay + L(0.035)], fill=g.shoes)
                if ident.shoes_type == "sneakers":
                    d.line([(x0 + 1, ay + L(0.03)), (x1 - 1, ay + L(0.03))], fill=(235, 235, 235), width=max(1, int(L(0.01))))
                if ident.shoes_type == "boots":
                    d.rectangle([ax - g.arm_w * 0.8, ay - L(0.07), ax + g.arm_w * 0.8, ay], fill=g.shoes)

    @staticmethod
    def _backpack_behind(d: ImageDraw.ImageDraw, g: Figure) -> None:
        """A backpack seen from the front or side sits behind the body."""
        L, Y, cx, sh = g.L, g.Y, g.cx, g.sh
        if g.side:
            bx = cx - g.face * (sh + L(0.005))
            x0, x1 = sorted([bx, bx - g.face * L(0.085)])
            d.rounded_rectangle([x0, Y(0.19), x1, Y(0.44)], radius=max(1, int(L(0.02))), fill=g.bagc)
        else:
            d.rounded_rectangle([cx - sh * 1.08, Y(0.2), cx + sh * 1.08, Y(0.42)], radius=max(1, int(L(0.02))), fill=darker_colour(g.bagc, 0.8))

    @staticmethod
    def _arm(d: ImageDraw.ImageDraw, ident: Identity, g: Figure, x_sh: float, swing: float, far: bool,
             raised: bool = False) -> tuple[float, float]:
        """One arm from the shoulder at ``x_sh``, sleeve over skin; returns the hand point."""
        L, ys, arm_w = g.L, g.ys, g.arm_w
        sleeve_long = ident.sleeves == "long"
        f = 0.78 if far else 1.0
        elbow = (x_sh + math.sin(swing) * L(0.16), ys + math.cos(swing) * L(0.16))
        if raised:  # forearm up toward the chest (phone)
            hand = (elbow[0] + (g.cx - elbow[0]) * 0.6, elbow[1] - L(0.08))
        else:
            hand = (elbow[0] + math.sin(swing * 1.2) * L(0.15), elbow[1] + math.cos(swing * 1.2) * L(0.15))
        upper_end = elbow if sleeve_long else ((x_sh + elbow[0]) / 2, (ys + elbow[1]) / 2)
        d.line([(x_sh, ys + L(0.01)), elbow, hand], fill=darker_colour(g.skin, f), width=arm_w, joint="curve")
        d.line([(x_sh, ys + L(0.01)), upper_end], fill=darker_colour(g.upper, f), width=arm_w + 1, joint="curve")
        if sleeve_long:
            d.line([elbow, (elbow[0] + (hand[0] - elbow[0]) * 0.85, elbow[1] + (hand[1] - elbow[1]) * 0.85)], fill=darker_colour(g.upper, f), width=arm_w + 1)
        r = arm_w * 0.6
        d.ellipse([hand[0] - r, hand[1] - r, hand[0] + r, hand[1] + r], fill=darker_colour(g.skin, f))
        return hand

    def _near_arms(self, d: ImageDraw.ImageDraw, ident: Identity, g: Figure) -> list[tuple[float, float]]:
        phone_hand = ident.carry == "phone"
        if g.side:
            return [self._arm(d, ident, g, g.cx, -g.stride * g.phase * 0.9, far=False, raised=phone_hand)]
        return [
            self._arm(d, ident, g, g.cx - g.sh, -0.12 - g.stride * 0.2, far=False),
            self._arm(d, ident, g, g.cx + g.sh, 0.12 + g.stride * 0.2, far=False, raised=phone_hand and g.view == "front"),
        ]

    @staticmethod
    def _torso(d: ImageDraw.ImageDraw, ident: Identity, g: Figure) -> None:
        """The upper garment (a trapezoid, a dress's flare, a skirt), its pattern and the details that tell its type."""
        L, Y, cx, sh, hip, ys, arm_w, upper = g.L, g.Y, g.cx, g.sh, g.hip, g.ys, g.arm_w, g.upper
        shirt_bottom = {"coat": 0.64, "jacket": 0.53, "hoodie": 0.53, "dress": 0.5}.get(ident.upper_type, 0.51)
        waist = hip * 0.98 if ident.upper_type != "dress" else hip
        bottom = Y(shirt_bottom)
        body = [(cx - sh, ys), (cx + sh, ys), (cx + waist, bottom), (cx - waist, bottom)]
        d.polygon(body, fill=upper)
        d.ellipse([cx - sh - arm_w * 0.6, ys - 2, cx - sh + arm_w * 0.9, ys + arm_w * 1.6], fill=upper)
        d.ellipse([cx + sh - arm_w * 0.9, ys - 2, cx + sh + arm_w * 0.6, ys + arm_w * 1.6], fill=upper)
        if ident.upper_type == "dress":
            flare = hip * 1.5
            d.polygon([(cx - waist, bottom), (cx + waist, bottom), (cx + flare, Y(0.72)), (cx - flare, Y(0.72))], fill=upper)
            bottom_pattern = Y(0.72)
        else:
            bottom_pattern = bottom
        if ident.lower_type == "skirt":
            flare = hip * 1.45
            d.polygon([(cx - hip, Y(0.49)), (cx + hip, Y(0.49)), (cx + flare, Y(0.7)), (cx - flare, Y(0.7))], fill=g.lower)
        # pattern, clipped to the trapezoid row by row
        if ident.upper_pattern != "plain":
            pc = contrasting(upper)
            step = max(3, int(L(0.035)))
            y = ys + step / 2
            while y < bottom_pattern - 1:
                t = (y - ys) / max(1.0, bottom - ys)
                half = sh + (waist - sh) * min(1.0, t)
                if y > bottom:
                    half = waist + (hip * 1.5 - waist) * (y - bottom) / max(1.0, bottom_pattern - bottom)
                d.line([(cx - half + 1, y), (cx + half - 1, y)], fill=pc, width=max(1, step // 3))
                y += step
            if ident.upper_pattern == "checked":
                x = cx - waist + step / 2
                while x < cx + waist:
                    d.line([(x, ys + 2), (x, bottom_pattern - 2)], fill=pc, width=max(1, step // 3))
                    x += step
        # garment details that tell the type apart
        if g.view == "front":
            if ident.upper_type in ("jacket", "coat"):
                d.line([(cx, ys + L(0.02)), (cx, bottom)], fill=darker_colour(upper, 0.55), width=max(1, int(L(0.01))))
                d.polygon([(cx - sh * 0.5, ys), (cx, ys + L(0.07)), (cx + sh * 0.5, ys)], fill=contrasting(upper) if ident.upper_type == "jacket" else darker_colour(upper, 0.8))
                if ident.upper_type == "coat":
                    for by in (0.26, 0.34, 0.42, 0.5):
                        d.ellipse([cx - 2 + L(0.015), Y(by) - 1, cx + L(0.015), Y(by) + 1], fill=darker_colour(upper, 0.4))
            elif ident.upper_type == "shirt":
                d.polygon([(cx - sh * 0.45, ys), (cx, ys + L(0.04)), (cx + sh * 0.45, ys), (cx, ys + L(0.015))], fill=contrasting(upper))
                d.line([(cx, ys + L(0.04)), (cx, bottom)], fill=darker_colour(upper, 0.7), width=1)
            elif ident.upper_type == "hoodie":
                d.rectangle([cx - waist * 0.6, Y(0.38), cx + waist * 0.6, Y(0.47)], outline=darker_colour(upper, 0.65))
                d.line([(cx - L(0.02), ys + L(0.01)), (cx - L(0.02), Y(0.27))], fill=(225, 225, 225), width=1)
                d.line([(cx + L(0.02), ys + L(0.01)), (cx + L(0.02), Y(0.27))], fill=(225, 225, 225), width=1)
            elif ident.upper_type in ("t-shirt", "dress"):
                d.chord([cx - L(0.035), ys - L(0.02), cx + L(0.035), ys + L(0.03)], 0, 180, fill=g.skin)
        if ident.upper_type == "sweater":
            d.line([(cx - waist, bottom - L(0.012)), (cx + waist, bottom - L(0.012))], fill=darker_colour(upper, 0.7), width=max(1, int(L(0.02))))
        if ident.upper_type == "hoodie" and g.view != "front":
            hx = cx - g.face * L(0.03) if g.side else cx
            d.ellipse([hx - L(0.06), ys - L(0.03), hx + L(0.06), ys + L(0.06)], fill=darker_colour(upper, 0.85))

    @staticmethod
    def _bags(d: ImageDraw.ImageDraw, ident: Identity, g: Figure, hands: list[tuple[float, float]]) -> None:
        """Bags drawn on top of the body (a backpack from behind, straps, shoulder bags, handbags)."""
        L, Y, cx, sh, hip, ys, bagc, view = g.L, g.Y, g.cx, g.sh, g.hip, g.ys, g.bagc, g.view
        strap_w = max(1, int(L(0.012)))
        if ident.bag == "backpack" and view == "back":
            d.rounded_rectangle([cx - sh * 0.82, Y(0.19), cx + sh * 0.82, Y(0.45)], radius=max(1, int(L(0.025))), fill=bagc)
            d.rectangle([cx - sh * 0.55, Y(0.33), cx + sh * 0.55, Y(0.42)], outline=darker_colour(bagc, 0.6))
        elif ident.bag == "backpack" and view == "front":
            for sx in (-1, 1):
                d.line([(cx + sx * sh * 0.6, ys), (cx + sx * sh * 0.75, Y(0.36))], fill=bagc, width=strap_w + 1)
        elif ident.bag == "shoulder bag":
            if g.side:
                d.line([(cx, ys), (cx + g.face * L(0.01), Y(0.45))], fill=bagc, width=strap_w)
                d.rectangle([cx - L(0.045), Y(0.45), cx + L(0.045), Y(0.53)], fill=bagc)
            else:
                d.line([(cx - sh * 0.8, ys), (cx + hip * 1.1, Y(0.47))], fill=bagc, width=strap_w)
                d.rectangle([cx + hip * 0.7, Y(0.46), cx + hip * 1.7, Y(0.55)], fill=bagc)
        elif ident.bag == "handbag":
            hx, hy = hands[0]
            d.arc([hx - L(0.025), hy - L(0.01), hx + L(0.025), hy + L(0.035)], 180, 360, fill=bagc, width=strap_w)
            d.rectangle([hx - L(0.04), hy + L(0.015), hx + L(0.04), hy + L(0.075)], fill=bagc)

    @staticmethod
    def _head(d: ImageDraw.ImageDraw, ident: Identity, g: Figure) -> None:
        """Neck, hair, face (eyes, ear, mouth by view) and glasses."""
        L, Y, cx, view, side, face, skin, hair = g.L, g.Y, g.cx, g.view, g.side, g.face, g.skin, g.hair
        hc_y, hr_y, hr_x = Y(0.075), L(0.062), L(0.05)
        hcx = cx + (face * L(0.008) if side else 0)
        d.rectangle([cx - L(0.018), hc_y + hr_y * 0.6, cx + L(0.018), g.ys + 1], fill=skin)  # neck
        long_hair = ident.hair_style == "long"
        if long_hair and view != "back":
            d.rounded_rectangle(
                [hcx - hr_x * 1.15 - (face * L(0.02) if side else 0), hc_y - hr_y, hcx + hr_x * 1.15 - (face * L(0.02) if side else 0), Y(0.26)],
                radius=max(1, int(L(0.03))),
                fill=hair,
            )
        head_box = [hcx - hr_x, hc_y - hr_y, hcx + hr_x, hc_y + hr_y]
        if view == "back":
            d.ellipse(head_box, fill=hair if ident.hair_style != "bald" else skin)
            if long_hair:
                d.rounded_rectangle([hcx - hr_x * 1.15, hc_y - hr_y * 0.4, hcx + hr_x * 1.15, Y(0.27)], radius=max(1, int(L(0.03))), fill=hair)
            if ident.hair_style == "ponytail":
                d.ellipse([hcx - L(0.02), hc_y, hcx + L(0.02), Y(0.2)], fill=darker_colour(hair, 0.9))
            if ident.hair_style == "bun":
                d.ellipse([hcx - L(0.03), hc_y - hr_y - L(0.02), hcx + L(0.03), hc_y - hr_y + L(0.035)], fill=darker_colour(hair, 0.9))
            return
        if ident.hair_style != "bald":
            d.ellipse([hcx - hr_x * 1.08, hc_y - hr_y * 1.08, hcx + hr_x * 1.08, hc_y + hr_y * 0.5], fill=hair)
        if side:
            d.ellipse([hcx - hr_x * 0.85 + face * L(0.012), hc_y - hr_y * 0.55, hcx + hr_x * 0.85 + face * L(0.012), hc_y + hr_y], fill=skin)
            d.polygon([(hcx + face * hr_x * 0.95, hc_y - L(0.005)), (hcx + face * (hr_x + L(0.012)), hc_y + L(0.01)), (hcx + face * hr_x * 0.95, hc_y + L(0.018))], fill=skin)
            d.ellipse([hcx + face * hr_x * 0.5 - 1, hc_y - 1, hcx + face * hr_x * 0.5 + 1, hc_y + 1], fill=(30, 25, 25))
            if ident.hair_style == "ponytail":
                px = hcx - face * hr_x
                d.ellipse([px - L(0.025), hc_y - L(0.02), px + L(0.02), Y(0.19)], fill=hair)
            if ident.hair_style == "bun":
                bx = hcx - face * hr_x * 0.8
                d.ellipse([bx - L(0.028), hc_y - hr_y - L(0.01), bx + L(0.028), hc_y - hr_y + L(0.04)], fill=hair)
        else:
            d.ellipse([hcx - hr_x * 0.88, hc_y - hr_y * 0.6, hcx + hr_x * 0.88, hc_y + hr_y], fill=skin)
            for ex in (-1, 1):
                ecx = hcx + ex * hr_x * 0.38
                d.ellipse([ecx - 1, hc_y - 1, ecx + 1, hc_y + 1], fill=(30, 25, 25))
            d.line([(hcx - L(0.012), hc_y + hr_y * 0.55), (hcx + L(0.012), hc_y + hr_y * 0.55)], fill=darker_colour(skin, 0.7), width=1)
            if ident.hair_style == "bun":
                d.ellipse([hcx - L(0.028), hc_y - hr_y - L(0.035), hcx + L(0.028), hc_y - hr_y + L(0.02)], fill=hair)
        if ident.glasses:
            gc = (20, 20, 20)
            lw = max(1, int(L(0.006)))
            if side:
                gx = hcx + face * hr_x * 0.55
                d.rectangle([gx - L(0.014), hc_y - L(0.01), gx + L(0.014), hc_y + L(0.01)], outline=gc, width=lw)
                d.line([(gx - face * L(0.014), hc_y), (hcx - face * hr_x * 0.3, hc_y - L(0.004))], fill=gc, width=lw)
            else:
                for ex in (-1, 1):
                    ecx = hcx + ex * hr_x * 0.4
                    d.rectangle([ecx - L(0.018), hc_y - L(0.011), ecx + L(0.018), hc_y + L(0.011)], outline=gc, width=lw)
                d.line([(hcx - L(0.004), hc_y), (hcx + L(0.004), hc_y)], fill=gc, width=lw)

    @staticmethod
    def _headwear(d: ImageDraw.ImageDraw, ident: Identity, g: Figure) -> None:
        L, Y, face, hatc = g.L, g.Y, g.face, g.hatc
        hc_y, hr_y, hr_x = Y(0.075), L(0.062), L(0.05)
        hcx = g.cx + (face * L(0.008) if g.side else 0)
        if ident.headwear == "cap":
            d.chord([hcx - hr_x * 1.05, hc_y - hr_y * 1.15, hcx + hr_x * 1.05, hc_y + hr_y * 0.2], 180, 360, fill=hatc)
            if g.side:
                bx0, bx1 = sorted([hcx + face * hr_x * 0.6, hcx + face * (hr_x + L(0.05))])
                d.rectangle([bx0, hc_y - hr_y * 0.5, bx1, hc_y - hr_y * 0.35], fill=darker_colour(hatc, 0.85))
            elif g.view == "front":
                d.ellipse([hcx - hr_x * 1.0, hc_y - hr_y * 0.6, hcx + hr_x * 1.0, hc_y - hr_y * 0.25], fill=darker_colour(hatc, 0.85))
        elif ident.headwear == "hat":
            d.rounded_rectangle([hcx - hr_x * 0.9, hc_y - hr_y * 1.55, hcx + hr_x * 0.9, hc_y - hr_y * 0.45], radius=max(1, int(L(0.015))), fill=hatc)
            d.ellipse([hcx - hr_x * 1.7, hc_y - hr_y * 0.65, hcx + hr_x * 1.7, hc_y - hr_y * 0.3], fill=darker_colour(hatc, 0.85))

    @staticmethod
    def _carried(d: ImageDraw.ImageDraw, ident: Identity, g: Figure, hands: list[tuple[float, float]],
                 uc: RGB | None) -> None:
        """An umbrella (of the planned shade `uc`) or a phone in the last hand."""
        L = g.L
        if ident.carry == "umbrella":
            hx, hy = hands[-1]
            top_y = g.top - L(0.04)
            d.line([(hx, hy), (hx, top_y + L(0.06))], fill=(40, 40, 40), width=max(1, int(L(0.008))))
            d.pieslice([hx - L(0.24), top_y - L(0.02), hx + L(0.24), top_y + L(0.17)], 180, 360, fill=uc)
        elif ident.carry == "phone" and g.view != "back":
            hx, hy = hands[-1]
            d.rectangle([hx - L(0.012), hy - L(0.035), hx + L(0.012), hy], fill=(15, 15, 18))

    @staticmethod
    def _draw_occluder(g: Figure, rng: np.random.Generator) -> Occluder:
        """Maybe a pole, a passer-by or an obstacle in front of the person: which, where, what colour."""
        W, H, cx = g.W, g.H, g.cx
        kind = _pick(rng, ("none", "pole", "person", "obstacle"), p=[0.62, 0.16, 0.12, 0.10])
        if kind == "pole":
            px = cx + rng.uniform(-0.35, 0.35) * W
            pw = max(3, int(W * rng.uniform(0.04, 0.08)))
            return Occluder(kind, x=px, width=pw, colour=tuple(int(v) for v in rng.integers(40, 120, 3)))
        if kind == "person":
            left = bool(rng.random() < 0.5)
            ow = W * rng.uniform(0.14, 0.26)
            oc = tuple(int(v) for v in rng.integers(20, 230, 3))
            return Occluder(kind, left=left, width=ow, colour=oc, skin=int(rng.integers(len(SKIN_TONES))))
        if kind == "obstacle":
            oy = H * rng.uniform(0.78, 0.88)
            return Occluder(kind, top=oy, colour=tuple(int(v) for v in rng.integers(30, 200, 3)))
        return Occluder(kind)

    @staticmethod
    def _occluder(d: ImageDraw.ImageDraw, g: Figure, occ: Occluder) -> None:
        """The planned pole, passer-by or obstacle, drawn in front of the person."""
        H, W, Y, L = g.H, g.W, g.Y, g.L
        occluder = occ.kind
        if occluder == "pole":
            px, pw, pc = occ.x, occ.width, occ.colour
            d.rectangle([px - pw / 2, 0, px + pw / 2, H], fill=pc)
            d.line([(px - pw / 2 + 1, 0), (px - pw / 2 + 1, H)], fill=mix_colours(pc, (255, 255, 255), 0.3), width=1)
        elif occluder == "person":
            left, ow, oc = occ.left, occ.width, occ.colour
            x0, x1 = (-ow * 0.6, ow) if left else (W - ow, W + ow * 0.6)
            d.rounded_rectangle([x0, Y(0.15), x1, H + 5], radius=int(ow * 0.4), fill=oc)
            hx = x1 - ow * 0.3 if left else x0 + ow * 0.3
            d.ellipse([hx - L(0.055), Y(0.02), hx + L(0.055), Y(0.15)], fill=SKIN_TONES[occ.skin])
        elif occluder == "obstacle":
            oy, oc = occ.top, occ.colour
            d.rounded_rectangle([-5, oy, W + 5, H + 5], radius=max(1, int(W * 0.06)), fill=oc)
            d.line([(0, oy + 3), (W, oy + 3)], fill=mix_colours(oc, (255, 255, 255), 0.35), width=1)

    def _draw_camera(self, rng: np.random.Generator) -> CameraDraw:
        blur = rng.uniform(0.3, 1.0) if rng.random() < 0.55 else None
        gain = rng.uniform(0.72, 1.18) * rng.uniform(0.92, 1.08, size=3).astype(np.float32)
        offset = rng.uniform(-12, 12)
        h, w = self.size
        ny, nx = int(rng.integers(0, h)), int(rng.integers(0, w))
        return CameraDraw(blur, gain, offset, (ny, nx), rng.uniform(0.0, 6.0))

    def _camera(self, img: Image.Image, cam: CameraDraw) -> Image.Image:
        """Lighting, colour cast, blur and sensor noise."""
        if cam.blur is not None:
            img = img.filter(ImageFilter.GaussianBlur(cam.blur))
        arr = np.asarray(img, dtype=np.float32)
        h, w = self.size
        ny, nx = cam.noise_yx
        noise = self.bank.noise[ny : ny + h, nx : nx + w] * cam.noise
        arr = arr * cam.gain + cam.offset + noise
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))

    @staticmethod
    def _visible(ident: Identity, view: str, occluder: str) -> set[str]:
        """Attributes a careful annotator could see in this picture."""
        vis = {"gender", "age", "hair", "upper", "upper_pattern", "sleeves", "lower", "shoes", "headwear", "bag", "carry"}
        if view != "back":
            vis.add("glasses")
        if ident.carry == "phone" and view == "back":
            vis.discard("carry")
        if ident.bag == "backpack" and view == "front":
            vis.add("bag")  # straps show; the colour too
        if occluder == "obstacle":
            vis.discard("shoes")
        return vis
