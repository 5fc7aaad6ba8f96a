

@pytest.mark.parametrize("tenant", ["redact_co", "vault_co"])
def test_bench_runs_calls_through_the_runner_and_writes_no_pii(tmp_path, tenants, inbox,
                                                               pii_frontend, tenant):
    calls = tmp_path / "calls.csv"
    calls.write_text(f"path,tenant_id\n{inbox / 'pii.wav'},{tenant}\n", encoding="utf-8")
    out = tmp_path / "bench" / "result.json"
    asr_before = CALLS["asr"]
    result = cli("bench", calls, "--out", out, "--no-naive")
    assert result.exit_code == 0, result.output
    assert CALLS["asr"] == asr_before + 1  # the runner's front end, in a fresh cache
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["calls"]["summary"] == {**data["calls"]["summary"], "calls": 1, "failed": 0}
    stages = data["calls"]["speed"]["pipeline"]["stages"]
    assert {"frontend", "acoustics", "scoring"} <= set(stages)
    assert_no_plaintext_pii(tmp_path / "bench")
