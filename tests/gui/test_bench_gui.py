from maml_studio.gui.bench_gui import format_gui_report, run_gui_bench


def test_gui_bench_measures_timer_delays_and_training_speed(qapp):
    report = run_gui_bench(seconds=1.5, modes=("off",))
    row = report["modes"]["eager"]
    assert row["headless_it_per_s"] > 0 and row["window_it_per_s"] > 0
    delays = row["timer_delay_ms"]
    # How many ticks fire depends on the machine and its load: a figure for the report, not a test.
    assert delays["ticks"] >= 1
    assert 0 <= delays["median"] <= delays["p99"] <= delays["worst"]
    plane = report["plane_latency_ms"]
    assert plane["resolution"] == 100 and 0 < plane["computed_median"] <= plane["median"]
    text = format_gui_report(report)
    assert "eager" in text and "heat map and boundaries" in text
    compared = report["compared_latency_ms"]
    assert compared["curves"] == 8 and 0 < compared["median"] <= compared["worst"]  # 3 models + 5 runs
    overlays = report["overlay_timer_ms"]
    assert overlays["runs"] == 5 and overlays["ticks"] >= 1
    assert "runs side by side" in text and "5 runs of 70,000 iterations" in text
