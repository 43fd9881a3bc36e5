"""The ``slow`` marker: which tests the quick loop, ``./scripts/test -m "not slow"``, leaves out.

CI runs everything (``./scripts/test``). The slow tests are listed here, by node id, instead of
being decorated where they are, so that one list shows the whole slow set and the time that put
each test on it: seconds for the call (and a shared fixture) in ``pytest --durations=40`` on the
project's 2-core machine. A test over about 5 s belongs here. A listed name that its module no
longer defines stops the run, so that a renamed test cannot slip back into the quick loop
unnoticed.
"""

from __future__ import annotations

import pytest

# module -> {test: seconds}
SLOW: dict[str, dict[str, float]] = {
    "tests/test_soak.py": {"test_chaos_soak": 60},
    # Each starts the exporter and a real Prometheus, and waits for rule evaluations.
    "tests/test_oncall_e2e.py": {
        "test_schedules_and_the_reason_in_a_real_prometheus": 41,
        "test_a_restart_in_an_outage_is_backfilled_from_the_event_list": 23,
    },
    # Both share a module fixture that starts Prometheus (6 s).
    "tests/test_prometheus_integration.py": {
        "test_stream_down_goes_pending_then_firing": 36,
        "test_every_dashboard_and_rule_expression_returns_data": 2,
    },
    "tests/test_sharding_e2e.py": {"test_three_shards_split_streams_and_the_budget": 26},
    "tests/test_e2e.py": {
        "test_states_and_changes_within_one_interval": 19,
        "test_throttling_lowers_the_rate": 6,
    },
    "tests/test_api_answers.py": {"test_exporter_keeps_serving_through_the_corpus": 18},
    "tests/test_push_quality.py": {"test_push_quality_matches_the_scripted_values": 15},
    "tests/test_signals.py": {
        "test_sighup_early_in_start_up_is_queued_never_fatal": 20,
        "test_sigterm_exits_zero_within_five_seconds": 9,
    },
    "tests/test_isolation.py": {
        "test_a_fault_on_state_polls_leaves_the_list_rounds_alone": 55,
        "test_a_reload_loop_does_not_starve_polling": 52,
    },
    "tests/test_runtime_stress.py": {
        "test_reloads_callbacks_discovery_and_scrapes_at_once_keep_every_invariant": 7,
    },
    "tests/test_secrets.py": {"test_config_check_output_has_no_secret": 5},
    # 300 bans found by state polls when the forbid list is retired or denied: an SDK call each.
    "tests/test_real_accounts.py": {"test_bans_permissions_and_limits_on_a_china_account": 9},
    "tests/test_attack.py": {"test_short_attack_run_passes": 50},
    "tests/test_client_gateway_faults.py": {
        "test_trickling_answers_are_timeouts_and_polling_recovers": 20,
        "test_gateway_429_and_503_lower_the_allowed_rate": 12,  # 6 s for each of two
    },
    "tests/test_supervision.py": {"test_each_thread_survives_a_failing_item": 12},
    "tests/test_reload.py": {
        "test_sigterm_with_calls_in_flight_exits_zero_within_five_seconds": 10,
    },
    # All five share a module fixture that builds the wheel and the sdist (4 s).
    "tests/test_build.py": {
        "test_wheel_with_the_lock_installs_the_same_versions_twice": 16,
        "test_wheel_installs_in_a_fresh_venv_and_runs_the_demo": 9,
        "test_artefact_names_carry_the_package_version": 0,
        "test_wheel_contents": 0,
        "test_sdist_contents": 0,
    },
    "tests/test_demo.py": {"test_scripts_demo_installs_the_runtime_only": 12},
    # Fifteen scripts, each a process of its own (the soak's with the exporter and two
    # scraping processes): 110 s together, from 21 s (soak.py) down to 1 s.
    "tests/test_benchmarks.py": {"test_benchmark_runs": 110},
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    modules: dict[str, object] = {}
    for item in items:
        path, _, rest = item.nodeid.partition("::")
        test = rest.split("[", 1)[0]  # every parameter set of a listed test
        if test in SLOW.get(path, {}):
            item.add_marker(pytest.mark.slow)
        module = getattr(item, "module", None)
        if module is not None:
            modules.setdefault(path, module)
    gone = [
        f"{path}::{test}"
        for path, module in modules.items()
        for test in SLOW.get(path, {})
        if not hasattr(module, test)
    ]
    if gone:
        raise pytest.UsageError(f"tests/conftest.py: SLOW names tests that do not exist: {gone}")
