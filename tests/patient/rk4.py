"""A test-only fixed-step RK4 on the model's own right-hand side, to judge the closed form."""

from __future__ import annotations

from patient.pharmacokinetics import CsfModel, CsfState


def rk4(
    model: CsfModel, state: CsfState, input_mcg_per_h: float, t_h: float, step_h: float
) -> CsfState:
    """Classical fourth-order Runge-Kutta from ``state`` over ``t_h`` hours of constant input."""
    steps = max(1, round(t_h / step_h))
    h = t_h / steps

    def f(v: list[float]) -> list[float]:
        r = model.rates(CsfState(*v), input_mcg_per_h)
        return [r.lumbar_mcg_per_ml, r.cisternal_mcg_per_ml, r.effect_site_mcg_per_ml]

    def plus(v: list[float], d: list[float], scale: float) -> list[float]:
        return [a + scale * b for a, b in zip(v, d, strict=True)]

    y = [state.lumbar_mcg_per_ml, state.cisternal_mcg_per_ml, state.effect_site_mcg_per_ml]
    for _ in range(steps):
        k1 = f(y)
        k2 = f(plus(y, k1, 0.5 * h))
        k3 = f(plus(y, k2, 0.5 * h))
        k4 = f(plus(y, k3, h))
        y = [
            a + h / 6 * (b + 2 * c + 2 * d + e)
            for a, b, c, d, e in zip(y, k1, k2, k3, k4, strict=True)
        ]
    return CsfState(*y)
