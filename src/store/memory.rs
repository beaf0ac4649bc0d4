//! The in-memory backend for `serve --dev`: the same primitives as Redis over maps in one
//! process. A blocking `Mutex`, not a tokio one, because no `.await` happens while it is held.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use serde::Deserialize;

use super::keys::SEEN_CLIENT_FIELD;
use super::{IndexEntry, WindowSlot, WriteOutcome};

#[derive(Default)]
struct State {
    strings: HashMap<String, String>,
    sorted: HashMap<String, BTreeSet<(u64, String)>>,
    hashes: HashMap<String, HashMap<String, String>>,
    /// Time-window entries (ms, member); expiry is by the window check, not by a timer.
    windows: HashMap<String, Vec<(u64, String)>>,
    /// Append-only logs (capped streams): entries oldest first, with Redis-style ids.
    streams: HashMap<String, std::collections::VecDeque<(StreamId, String)>>,
}

/// A stream entry id as Redis makes them: milliseconds and a sequence within them.
type StreamId = (u64, u64);

#[derive(Clone, Default)]
pub struct MemoryBackend {
    state: Arc<Mutex<State>>,
}

#[derive(Deserialize)]
struct Versioned {
    version: u64,
}

#[derive(Deserialize)]
struct SecretIds {
    #[serde(default)]
    secrets: Vec<IdOnly>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

fn version_of(doc: &str) -> Option<u64> {
    serde_json::from_str::<Versioned>(doc)
        .ok()
        .map(|v| v.version)
}

impl MemoryBackend {
    fn state(&self) -> MutexGuard<'_, State> {
        // parking_lot: a panic while holding the lock leaves plain maps behind, still usable.
        self.state.lock()
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.state().strings.get(key).cloned()
    }

    pub fn get_many(&self, keys: &[String]) -> Vec<Option<String>> {
        let state = self.state();
        keys.iter().map(|k| state.strings.get(k).cloned()).collect()
    }

    pub fn put_if_version(&self, key: &str, expected: Option<u64>, doc: &str) -> WriteOutcome {
        let mut state = self.state();
        let current = state.strings.get(key);
        let outcome = match (expected, current) {
            (None, Some(_)) => WriteOutcome::Conflict,
            (None, None) => WriteOutcome::Done,
            (Some(_), None) => WriteOutcome::Missing,
            (Some(v), Some(doc)) if version_of(doc) == Some(v) => WriteOutcome::Done,
            (Some(_), Some(_)) => WriteOutcome::Conflict,
        };
        if outcome == WriteOutcome::Done {
            state.strings.insert(key.to_owned(), doc.to_owned());
        }
        outcome
    }

    pub fn delete_if_version(&self, key: &str, seen: &str, expected: Option<u64>) -> WriteOutcome {
        let mut state = self.state();
        let Some(current) = state.strings.get(key) else {
            return WriteOutcome::Missing;
        };
        if expected.is_some() && version_of(current) != expected {
            return WriteOutcome::Conflict;
        }
        state.strings.remove(key);
        state.hashes.remove(seen);
        WriteOutcome::Done
    }

    pub fn index_add(&self, key: &str, score: u64, member: &str) {
        let mut state = self.state();
        let set = state.sorted.entry(key.to_owned()).or_default();
        set.retain(|(_, m)| m != member);
        set.insert((score, member.to_owned()));
    }

    pub fn index_remove(&self, key: &str, member: &str) {
        if let Some(set) = self.state().sorted.get_mut(key) {
            set.retain(|(_, m)| m != member);
        }
    }

    pub fn index_len(&self, key: &str) -> u64 {
        self.state().sorted.get(key).map_or(0, |s| s.len() as u64)
    }

    pub fn index_after(
        &self,
        key: &str,
        after: Option<&IndexEntry>,
        limit: usize,
    ) -> Vec<IndexEntry> {
        let state = self.state();
        let Some(set) = state.sorted.get(key) else {
            return Vec::new();
        };
        let start = match after {
            Some(c) => Bound::Excluded((c.score, c.member.clone())),
            None => Bound::Unbounded,
        };
        set.range((start, Bound::Unbounded))
            .take(limit)
            .map(|(score, member)| IndexEntry {
                score: *score,
                member: member.clone(),
            })
            .collect()
    }

    /// Records a use of `secret` only while the client document holds it (as the Redis
    /// script does).
    pub fn record_use(&self, client: &str, seen: &str, secret: &str, at_ms: u64) {
        let mut state = self.state();
        let holds_secret = state
            .strings
            .get(client)
            .and_then(|doc| serde_json::from_str::<SecretIds>(doc).ok())
            .is_some_and(|doc| doc.secrets.iter().any(|s| s.id == secret));
        if holds_secret {
            let hash = state.hashes.entry(seen.to_owned()).or_default();
            for field in [SEEN_CLIENT_FIELD, secret] {
                hash.insert(field.to_owned(), at_ms.to_string());
            }
        }
    }

    pub fn hash_get_all_many(&self, keys: &[String]) -> Vec<HashMap<String, String>> {
        let state = self.state();
        keys.iter()
            .map(|k| state.hashes.get(k).cloned().unwrap_or_default())
            .collect()
    }
}

impl MemoryBackend {
    pub fn window_entries(&self, keys: [&str; 2]) -> [Vec<u64>; 2] {
        let state = self.state();
        keys.map(|key| {
            state
                .windows
                .get(key)
                .map(|entries| entries.iter().map(|(at, _)| *at).collect())
                .unwrap_or_default()
        })
    }

    /// Adds `member` at `now` unless the window already holds `limit` entries: the check
    /// and the add happen under one lock, as the Redis script runs atomically.
    pub fn window_reserve(
        &self,
        key: &str,
        member: &str,
        now: u64,
        window_ms: u64,
        limit: u64,
    ) -> WindowSlot {
        let mut state = self.state();
        let entries = state.windows.entry(key.to_owned()).or_default();
        entries.retain(|(at, _)| *at > now.saturating_sub(window_ms));
        if entries.len() as u64 >= limit {
            let oldest = entries.iter().map(|(at, _)| *at).min().unwrap_or(now);
            return WindowSlot::Full { oldest_ms: oldest };
        }
        entries.push((now, member.to_owned()));
        WindowSlot::Taken
    }

    pub fn window_release(&self, key: &str, member: &str) {
        if let Some(entries) = self.state().windows.get_mut(key) {
            entries.retain(|(_, m)| m != member);
        }
    }

    pub fn get_cached(&self, key: &str) -> Option<String> {
        self.get(key)
    }

    pub fn delete(&self, key: &str) {
        let mut state = self.state();
        state.windows.remove(key);
        state.strings.remove(key);
        state.hashes.remove(key);
        state.sorted.remove(key);
        state.streams.remove(key);
    }

    /// A string that the reader judges expired by its value (an expiry in ms): the memory
    /// store has no timers.
    pub fn set_expiring(&self, key: &str, value: u64, _ttl_ms: u64) {
        self.state()
            .strings
            .insert(key.to_owned(), value.to_string());
    }

    /// Sets a string judged by its value (an expiry in ms) unless one not yet expired is
    /// there: whether it was set.
    pub fn set_new_expiring(&self, key: &str, value: u64, _ttl_ms: u64) -> bool {
        let now = crate::domain::Timestamp::now().as_millis();
        let mut state = self.state();
        let live = state
            .strings
            .get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|expires| expires > now);
        if !live {
            state.strings.insert(key.to_owned(), value.to_string());
        }
        !live
    }

    /// Appends `entry` to the stream at `key` (at most `max_len` entries kept, oldest
    /// dropped first) and returns its id (`<ms>-<seq>`, increasing, as Redis's `XADD *`).
    pub fn stream_append(&self, key: &str, entry: &str, max_len: usize, now_ms: u64) -> String {
        let mut state = self.state();
        let stream = state.streams.entry(key.to_owned()).or_default();
        let id = match stream.back() {
            Some(&((last_ms, seq), _)) if last_ms >= now_ms => (last_ms, seq + 1),
            _ => (now_ms, 0),
        };
        stream.push_back((id, entry.to_owned()));
        while stream.len() > max_len {
            stream.pop_front();
        }
        format!("{}-{}", id.0, id.1)
    }

    /// Up to `count` entries newest first, strictly older than `before` when given.
    pub fn stream_before(
        &self,
        key: &str,
        before: Option<&str>,
        count: usize,
    ) -> Vec<(String, String)> {
        let before = before.and_then(parse_stream_id);
        let state = self.state();
        let Some(stream) = state.streams.get(key) else {
            return Vec::new();
        };
        stream
            .iter()
            .rev()
            .filter(|(id, _)| before.is_none_or(|b| *id < b))
            .take(count)
            .map(|((ms, seq), entry)| (format!("{ms}-{seq}"), entry.clone()))
            .collect()
    }
}

fn parse_stream_id(text: &str) -> Option<StreamId> {
    let (ms, seq) = text.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_compare_and_set_on_the_version() {
        let m = MemoryBackend::default();
        assert_eq!(
            m.put_if_version("k", None, r#"{"version":1}"#),
            WriteOutcome::Done
        );
        assert_eq!(
            m.put_if_version("k", None, r#"{"version":1}"#),
            WriteOutcome::Conflict
        );
        assert_eq!(
            m.put_if_version("k", Some(2), r#"{"version":3}"#),
            WriteOutcome::Conflict
        );
        assert_eq!(
            m.put_if_version("k", Some(1), r#"{"version":2}"#),
            WriteOutcome::Done
        );
        assert_eq!(
            m.delete_if_version("k", "s", Some(1)),
            WriteOutcome::Conflict
        );
        assert_eq!(m.delete_if_version("k", "s", Some(2)), WriteOutcome::Done);
        assert_eq!(m.put_if_version("k", Some(2), "{}"), WriteOutcome::Missing);
    }

    #[test]
    fn window_reservations_stop_at_the_limit_and_release_frees_a_place() {
        let m = MemoryBackend::default();
        for n in 0..3 {
            assert_eq!(
                m.window_reserve("w", &format!("m{n}"), 1000 + n, 60_000, 3),
                WindowSlot::Taken
            );
        }
        assert_eq!(
            m.window_reserve("w", "m3", 1010, 60_000, 3),
            WindowSlot::Full { oldest_ms: 1000 }
        );
        m.window_release("w", "m1");
        assert_eq!(
            m.window_reserve("w", "m4", 1020, 60_000, 3),
            WindowSlot::Taken
        );
        // Entries older than the window no longer count.
        assert_eq!(
            m.window_reserve("w", "m5", 70_000, 60_000, 3),
            WindowSlot::Taken
        );
        assert_eq!(m.window_entries(["w", "none"])[0], [70_000]);
    }

    #[test]
    fn index_pages_continue_strictly_after_the_cursor() {
        let m = MemoryBackend::default();
        for (score, member) in [(1, "b"), (1, "a"), (2, "c")] {
            m.index_add("z", score, member);
        }
        let first = m.index_after("z", None, 2);
        assert_eq!(
            first.iter().map(|e| e.member.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let rest = m.index_after("z", first.last(), 2);
        assert_eq!(
            rest.iter().map(|e| e.member.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
    }
}
