//! What `c10k merge` reads: an agent's `--json` record and its `.hlog`,
//! merged as `c10k merge` merges them. Input: the record, then a NUL, then
//! the interval log. Bad input must be an `Err`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use load::agents::AgentRecord;
use load::report::IntervalLog;

fuzz_target!(|data: &[u8]| {
    let (record, log) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    };
    let log = log.map(IntervalLog::read);
    let Ok(agent) = serde_json::from_slice::<AgentRecord>(record) else {
        return;
    };
    let logs = match log {
        Some(Ok(log)) => Some(vec![log.clone(), log]),
        Some(Err(_)) => return,
        None => None,
    };
    // Two agents with the same record: their segments clash, which merge
    // must refuse in words; one agent alone must merge or say why.
    let _ = load::agents::merge(&[agent.clone(), agent.clone()], logs);
    if let Ok(report) = load::agents::merge(&[agent], None) {
        let _ = report.table();
    }
});
