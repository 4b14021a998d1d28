"""The reservoir holds the true volume and drug mass; the catheter delays drug first-in first-out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hw_sim.hardware.catheter import Catheter
from hw_sim.hardware.reservoir import Reservoir


def test_drawing_more_than_is_there_delivers_only_what_is_there() -> None:
    reservoir = Reservoir(20_000_000)
    reservoir.inject(1_000, 500)
    assert reservoir.draw(5_000) == (1_000, 500_000)
    assert reservoir.volume_nl == 0
    assert reservoir.draw(100) == (0, 0)


def test_injection_beyond_capacity_is_not_accepted() -> None:
    reservoir = Reservoir(20_000_000)
    reservoir.inject(19_000_000, 500)
    assert reservoir.inject(5_000_000, 500) == 1_000_000
    assert reservoir.volume_nl == 20_000_000


def test_pocket_fill_adds_nothing_to_the_reservoir_and_affects_one_refill() -> None:
    reservoir = Reservoir(20_000_000)
    reservoir.pocket_fill_armed = True
    assert reservoir.inject(18_000_000, 2_000) == 0
    assert reservoir.volume_nl == 0
    assert reservoir.pocket_pg == 18_000_000 * 2_000
    assert reservoir.inject(1_000_000, 2_000) == 1_000_000


def test_aspiration_withdraws_the_true_contents() -> None:
    reservoir = Reservoir(20_000_000)
    reservoir.inject(3_000_000, 500)
    reservoir.draw(1_250_000)
    assert reservoir.aspirate() == 1_750_000
    assert reservoir.volume_nl == 0
    assert reservoir.mass_pg == 0


def test_mixed_concentrations_keep_total_mass() -> None:
    reservoir = Reservoir(20_000_000)
    reservoir.inject(1_000_000, 500)
    reservoir.inject(1_000_000, 2_000)
    assert reservoir.concentration_mcg_per_ml == 1_250


@given(st.lists(st.integers(0, 3_000_000), max_size=30))
def test_draws_conserve_volume_and_mass(draws: list[int]) -> None:
    reservoir = Reservoir(20_000_000)
    reservoir.inject(20_000_000, 1_000)
    out_nl = out_pg = 0
    for volume in draws:
        nl, pg = reservoir.draw(volume)
        out_nl, out_pg = out_nl + nl, out_pg + pg
    assert out_nl + reservoir.volume_nl == 20_000_000
    assert out_pg + reservoir.mass_pg == 20_000_000 * 1_000


def test_new_catheter_delivers_no_drug_until_its_dead_space_is_filled() -> None:
    catheter = Catheter(50, 2_600, 140_000)
    assert catheter.dead_space_nl == 270_000
    assert catheter.push(270_000, 270_000 * 500) == (270_000, 0)
    assert catheter.push(1_000, 1_000 * 500) == (1_000, 500_000)


def test_old_concentration_reaches_the_patient_before_the_new_one() -> None:
    catheter = Catheter(0, 2_600, 100_000)
    catheter.push(100_000, 100_000 * 500)  # column now holds 500 mcg/mL
    out_nl, out_pg = catheter.push(100_000, 100_000 * 2_000)
    assert (out_nl, out_pg) == (100_000, 100_000 * 500)
    assert catheter.drug_in_column_pg == 100_000 * 2_000


@given(
    st.lists(st.tuples(st.integers(1, 50_000), st.sampled_from([0, 50, 500, 2000])), max_size=40)
)
def test_catheter_conserves_drug(pushes: list[tuple[int, int]]) -> None:
    catheter = Catheter(10, 2_600, 140_000)
    pushed_pg = 0
    for volume, conc in pushes:
        catheter.push(volume, volume * conc)
        pushed_pg += volume * conc
    assert catheter.to_patient_pg + catheter.drug_in_column_pg == pushed_pg
