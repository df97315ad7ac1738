"""The camera renderer's painters of the head (hair, face, headwear) and of what a person carries (bags,
backpack, umbrella, phone): a mixin of `CameraRenderer`, which gives it the canvas, the textures and
the fabric and skin painters."""

from __future__ import annotations

import math

import numpy as np

from .shots import RGB, Figure
from .identities import Identity

from .camera_paint import FABRICS, Canvas, Patch, Pose, lit_colour, rgb_of


class AccessoryPainter:
    """The head and the carried things of `CameraRenderer` (see the module doc)."""

    def _bags(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, offs: tuple[int, int]) -> None:
        L = pose.scale
        cx = g.cx
        bag = ident.bag
        if bag == "none" or g.bagc is None:
            return
        colour = g.bagc
        sh_y = pose.shoulders[0][1]
        fab = FABRICS["nylon"] if bag == "backpack" else FABRICS["leather"]

        def strap(a, b, width=L * 0.009):
            q = cv.shape(a, b, [0, 1], [width, width])
            col = self._plain(q, colour, shine=0.1)
            if col is not None:
                cv.fill(q, col * 0.85)

        if bag == "backpack":
            if g.view == "back":
                self._backpack(cv, g, pose, behind=False)
            elif g.view == "front":
                for sgn in (-1, 1):
                    strap((cx + sgn * L * 0.06, sh_y - L * 0.01), (cx + sgn * L * 0.075, pose.waist_y - L * 0.02), L * 0.012)
            else:
                strap((cx + g.face * L * 0.01, sh_y - L * 0.01), (cx + g.face * L * 0.02, pose.waist_y), L * 0.011)
        elif bag == "shoulder bag":
            if g.side:
                strap((cx, sh_y - L * 0.01), (cx + g.face * L * 0.01, pose.hip_y - L * 0.04))
                p = cv.shape((cx, pose.hip_y - L * 0.045), (cx, pose.hip_y + L * 0.035), [0, 1], [L * 0.045, L * 0.045],
                             round_ends=(False, False), flat=0.4)
            else:
                strap((cx - L * 0.07, sh_y - L * 0.01), (cx + L * 0.1, pose.hip_y - L * 0.04))
                p = cv.shape((cx + L * 0.11, pose.hip_y - L * 0.05), (cx + L * 0.11, pose.hip_y + L * 0.035), [0, 1],
                             [L * 0.045, L * 0.045], round_ends=(False, False), flat=0.4)
            col = self._cloth(p, colour, fab, offs, L)
            if col is not None:
                cv.fill(p, col)
        elif bag == "handbag":
            hx, hy = pose.hands[0]
            q = cv.shape((hx - L * 0.02, hy + L * 0.02), (hx, hy - L * 0.005), [0, 1], [L * 0.006, L * 0.006])
            if q is not None:
                cv.fill(q, self._plain(q, colour))
            q = cv.shape((hx + L * 0.02, hy + L * 0.02), (hx, hy - L * 0.005), [0, 1], [L * 0.006, L * 0.006])
            if q is not None:
                cv.fill(q, self._plain(q, colour))
            p = cv.shape((hx, hy + L * 0.02), (hx, hy + L * 0.085), [0, 1], [L * 0.035, L * 0.045], round_ends=(False, False),
                         flat=0.5)
            col = self._cloth(p, colour, fab, offs, L)
            if col is not None:
                cv.fill(p, col)

    def _backpack(self, cv: Canvas, g: Figure, pose: Pose, behind: bool) -> None:
        L = pose.scale
        cx = g.cx
        sh_y = pose.shoulders[0][1]
        colour = g.bagc
        if colour is None:
            return
        if g.side:
            bx = cx - g.face * L * 0.085
            p = cv.shape((bx, sh_y + L * 0.01), (bx, pose.waist_y + L * 0.02), [0, 0.5, 1], [L * 0.045, L * 0.055, L * 0.05],
                         flat=0.8)
        elif behind:  # seen from the front: its sides show beyond the shoulders
            p = cv.shape((cx, sh_y + L * 0.01), (cx, pose.waist_y + L * 0.01), [0, 1], [L * 0.125, L * 0.125],
                         round_ends=(True, False), flat=0.6)
        else:
            p = cv.shape((cx, sh_y + L * 0.02), (cx, pose.waist_y + L * 0.04), [0, 0.2, 1], [L * 0.075, L * 0.088, L * 0.092],
                         round_ends=(True, False), flat=0.5)
        col = self._cloth(p, colour, FABRICS["nylon"], (40, 90), L)
        if col is None:
            return
        cv.fill(p, col * (0.75 if behind else 1.0))
        if not behind and not g.side:  # the front pocket's seam
            q = cv.shape((cx - L * 0.06, pose.waist_y - L * 0.02), (cx + L * 0.06, pose.waist_y - L * 0.02), [0, 1], [0.7, 0.7])
            if q is not None:
                cv.rgb[q.ys, q.xs] *= (1 - 0.35 * q.alpha)[..., None]

    def _long_hair(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, behind: bool) -> None:
        L = pose.scale
        (hx, hy), (rx, ry) = pose.head, pose.head_r
        p = cv.shape((hx, hy - ry * 0.3), (hx, pose.shoulders[0][1] + L * (0.1 if not behind else 0.08)), [0, 0.6, 1],
                     [rx * 1.12, rx * 1.18, rx * 1.05], round_ends=(True, False), flat=0.8)
        col = self._hair(p, g)
        if col is not None:
            cv.fill(p, col)

    def _hair(self, p: Patch | None, g: Figure) -> np.ndarray | None:
        if p is None:
            return None
        strands = self.tex.sample(self.tex.strands, p, 13, 57)
        base = rgb_of(g.hair)[None, None, :] * (1.0 + 0.16 * strands)[..., None]
        # Hair sheen: a band of highlight across the strands.
        return lit_colour(p, base, ambient=0.45, shine=0.12 + 0.25 * float(rgb_of(g.hair).mean()), power=8)

    def _head(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, offs: tuple[int, int]) -> None:
        L = pose.scale
        (hx, hy), (rx, ry) = pose.head, pose.head_r
        face = g.face
        style = ident.hair_style
        # neck, with the head's shadow on it
        p = cv.shape((pose.neck[0], hy + ry * 0.5), (pose.neck[0], pose.shoulders[0][1] + L * 0.005), [0, 1],
                     [L * 0.026, L * 0.03])
        col = self._skin(p, g)
        if col is not None:
            cv.fill(p, col * (1.0 - 0.35 * np.clip(1.0 - p.t * 1.5, 0, 1))[..., None])
        head = cv.ellipse((hx, hy), rx, ry)
        if head is None:
            return
        skin = self._skin(head, g)
        if g.view == "back" and style != "bald":
            cv.fill(head, self._hair(head, g))
        else:
            cv.fill(head, skin)
            if g.view != "back":
                self._face(cv, ident, g, pose)
            if style != "bald":
                self._hair_cap(cv, g, pose, head)
        if g.view == "back" and style == "long":
            self._long_hair(cv, ident, g, pose, behind=False)
        if style == "ponytail" and g.view != "front":
            bx = hx - (face * rx * 0.9 if g.side else 0)
            q = cv.shape((bx, hy - ry * 0.1), (bx - (face * L * 0.012 if g.side else 0), hy + ry * 1.35), [0, 0.3, 1],
                         [L * 0.016, L * 0.02, L * 0.01])
            cv.fill(q, self._hair(q, g))
        if style == "bun":
            bx = hx - (face * rx * 0.7 if g.side else 0)
            by = hy - ry * (0.85 if g.view == "front" else 0.7)
            q = cv.ellipse((bx, by), L * 0.026, L * 0.024)
            cv.fill(q, self._hair(q, g))

    def _hair_cap(self, cv: Canvas, g: Figure, pose: Pose, head: Patch) -> None:
        """Hair over the top (and, in side views, the back) of the head: the head's shape above a hairline."""
        (hx, hy), (rx, ry) = pose.head, pose.head_r
        p = cv.ellipse((hx, hy - ry * 0.04), rx * 1.08, ry * 1.06)
        if p is None:
            return
        X = p.across / (rx * 1.08)
        Y = p.along / (ry * 1.06)
        if g.side:
            f = g.face
            # hair covers the back half and the top; the hairline runs from the brow to behind the ear
            keep = np.clip(((-f * X) * 1.2 + 0.25 - Y * 0.9) * 4, 0, 1)
            keep = np.maximum(keep, np.clip((-0.3 - Y) * 5, 0, 1))
        else:
            hairline = -0.28 + 0.25 * X * X  # a rounded brow line
            keep = np.clip((hairline - Y) * 6, 0, 1)
            keep = np.maximum(keep, np.clip((np.abs(X) - 0.86) * 8, 0, 1) * (Y < 0.35))  # at the temples
        cv.fill(p, self._hair(p, g), clip=keep)

    def _face(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose) -> None:
        """Eyes, brows, nose shade and mouth, a pixel or two each at this scale; glasses."""
        (hx, hy), (rx, ry) = pose.head, pose.head_r
        L = pose.scale
        dark = np.array([0.12, 0.09, 0.08], np.float32)
        skin = rgb_of(g.skin)

        def dab(x, y, r_x, r_y, colour, amount):
            q = cv.ellipse((x, y), max(r_x, 0.6), max(r_y, 0.5))
            if q is not None:
                cv.fill(q, np.broadcast_to(colour, q.alpha.shape + (3,)).astype(np.float32), clip=np.full_like(q.alpha, amount))

        eye_y = hy + ry * 0.02
        if rx < 3.0:  # a head a few pixels wide: features merge into one shadow across the eyes
            if not g.side:
                dab(hx, eye_y, rx * 0.6, ry * 0.09, skin * 0.5, 0.6)
        elif g.side:
            ex = hx + g.face * rx * 0.55
            dab(ex, eye_y, rx * 0.12, ry * 0.07, dark, 0.8)
            dab(ex, eye_y - ry * 0.16, rx * 0.18, ry * 0.05, rgb_of(g.hair) * 0.8, 0.6)
            dab(hx + g.face * rx * 0.95, hy + ry * 0.2, rx * 0.12, ry * 0.1, skin * 0.95, 1.0)  # nose
            dab(hx - g.face * rx * 0.1, hy + ry * 0.05, rx * 0.14, ry * 0.16, skin * 0.75, 0.6)  # ear
            dab(hx + g.face * rx * 0.65, hy + ry * 0.5, rx * 0.14, ry * 0.03, skin * 0.6, 0.6)
        else:
            for sgn in (-1, 1):
                dab(hx + sgn * rx * 0.38, eye_y, rx * 0.13, ry * 0.065, dark, 0.85)
                dab(hx + sgn * rx * 0.38, eye_y - ry * 0.17, rx * 0.2, ry * 0.045, rgb_of(g.hair) * 0.8, 0.55)
            dab(hx + rx * 0.08, hy + ry * 0.3, rx * 0.09, ry * 0.12, skin * 0.72, 0.5)  # nose shadow
            dab(hx, hy + ry * 0.55, rx * 0.22, ry * 0.04, skin * 0.55, 0.7)  # mouth
        if ident.glasses:
            frame = np.array([0.06, 0.06, 0.07], np.float32)
            lw = max(0.5, L * 0.0035)
            if g.side:
                gx = hx + g.face * rx * 0.55
                for a, b in (((gx - rx * 0.15, eye_y - ry * 0.1), (gx + rx * 0.15, eye_y - ry * 0.1)),
                             ((gx - rx * 0.15, eye_y + ry * 0.1), (gx + rx * 0.15, eye_y + ry * 0.1)),
                             ((gx - g.face * rx * 0.15, eye_y - ry * 0.05), (hx - g.face * rx * 0.2, eye_y - ry * 0.1))):
                    q = cv.shape(a, b, [0, 1], [lw, lw])
                    if q is not None:
                        cv.fill(q, np.broadcast_to(frame, q.alpha.shape + (3,)).astype(np.float32))
            else:
                for sgn in (-1, 1):
                    ex = hx + sgn * rx * 0.4
                    q = cv.ellipse((ex, eye_y), rx * 0.3, ry * 0.17)
                    if q is not None:
                        rr = np.sqrt((q.across / (rx * 0.3)) ** 2 + (q.along / (ry * 0.17)) ** 2)
                        ring = np.clip(1.0 - np.abs(rr - 0.9) * (rx * 0.3) / lw, 0, 1)
                        cv.fill(q, np.broadcast_to(frame, q.alpha.shape + (3,)).astype(np.float32), clip=ring)
                        # glass: a faint reflection
                        cv.fill(q, np.broadcast_to(np.float32(0.8), q.alpha.shape + (3,)).astype(np.float32),
                                clip=(rr < 0.85) * 0.12)
                q = cv.shape((hx - rx * 0.12, eye_y), (hx + rx * 0.12, eye_y), [0, 1], [lw, lw])
                if q is not None:
                    cv.fill(q, np.broadcast_to(frame, q.alpha.shape + (3,)).astype(np.float32))

    def _headwear(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose) -> None:
        if ident.headwear == "none" or g.hatc is None:
            return
        (hx, hy), (rx, ry) = pose.head, pose.head_r
        colour = g.hatc
        if ident.headwear == "cap":
            p = cv.ellipse((hx, hy - ry * 0.3), rx * 1.06, ry * 0.8)
            if p is not None:
                crown = np.clip((-p.along / (ry * 0.8) + 0.05) * 6, 0, 1)
                cv.fill(p, self._plain(p, colour, shine=0.05, grain=0.04), clip=crown)
            if g.side:
                a, b = (hx + g.face * rx * 0.6, hy - ry * 0.3), (hx + g.face * rx * 1.55, hy - ry * 0.22)
                q = cv.shape(a, b, [0, 1], [ry * 0.07, ry * 0.06])
            elif g.view == "front":
                q = cv.ellipse((hx, hy - ry * 0.3), rx * 1.0, ry * 0.17)
            else:
                q = None
            if q is not None:
                cv.fill(q, self._plain(q, colour, shine=0.03) * 0.75)
        else:  # a hat: a brim and a crown
            q = cv.ellipse((hx, hy - ry * 0.45), rx * 1.65, ry * 0.2)
            if q is not None:
                cv.fill(q, self._plain(q, colour, shine=0.02, grain=0.05) * 0.8)
            p = cv.shape((hx, hy - ry * 1.3), (hx, hy - ry * 0.5), [0, 1], [rx * 0.82, rx * 0.92],
                         round_ends=(True, False), flat=0.8)
            if p is not None:
                cv.fill(p, self._plain(p, colour, shine=0.04, grain=0.05))
                band = (p.t > 0.72).astype(np.float32) * 0.6
                cv.rgb[p.ys, p.xs] *= (1 - band * p.alpha * 0.5)[..., None]

    def _carried(self, cv: Canvas, ident: Identity, g: Figure, pose: Pose, umbrella: RGB | None) -> None:
        L = pose.scale
        hx, hy = pose.hands[-1]
        if ident.carry == "umbrella" and umbrella is not None:
            top_y = g.top - L * 0.05
            q = cv.shape((hx, hy), (hx, top_y + L * 0.08), [0, 1], [max(0.7, L * 0.005)] * 2)
            if q is not None:
                cv.fill(q, np.broadcast_to(np.float32(0.15), q.alpha.shape + (3,)).astype(np.float32))
            p = cv.ellipse((hx, top_y + L * 0.1), L * 0.26, L * 0.13)
            if p is not None:
                dome = (p.along < 0).astype(np.float32)
                ribs = 1 - 0.12 * (np.sin(p.across / (L * 0.06) * math.pi) > 0.7)  # the canopy's panels
                col = lit_colour(p, rgb_of(umbrella)[None, None, :] * ribs[..., None], ambient=0.5, shine=0.12)
                cv.fill(p, col, clip=dome)
        elif ident.carry == "phone" and g.view != "back":
            q = cv.shape((hx, hy - L * 0.03), (hx, hy + L * 0.005), [0, 1], [L * 0.011, L * 0.011], round_ends=(False, False))
            if q is not None:
                cv.fill(q, np.broadcast_to(np.array([0.05, 0.05, 0.07], np.float32), q.alpha.shape + (3,)).copy())
            q = cv.ellipse((hx, hy), L * 0.017, L * 0.018)
            if q is not None:
                cv.fill(q, self._skin(q, g))
