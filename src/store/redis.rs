//! The Redis backend: a multiplexed connection that reconnects by itself, with a timeout
//! on every command. Writes to a client document are compare-and-set in Lua on the
//! document's `version`, so concurrent writers never lose each other's changes.

use std::collections::HashMap;
use std::time::Duration;

use std::num::NonZeroUsize;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::caching::{CacheConfig, CacheMode};
use redis::{AsyncCommands, CommandCacheConfig, IntoConnectionInfo, ProtocolVersion, Script};

use super::{IndexEntry, StoreError, WriteOutcome};

/// Replace (expected version given) or create (expected empty) a document.
/// Returns 1 written, 0 version mismatch or already exists, -1 missing.
const PUT_IF_VERSION: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if current then return 0 end
else
  if not current then return -1 end
  if tostring(cjson.decode(current)['version']) ~= ARGV[1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
";

/// Delete a document and its seen-hash, if its version matches (or ARGV[1] is empty).
const DELETE_IF_VERSION: &str = r"
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
if ARGV[1] ~= '' and tostring(cjson.decode(current)['version']) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
";

/// ZSET members with their scores, as `WITHSCORES` replies give them.
type Scored = Vec<(String, u64)>;

#[derive(Clone)]
pub struct RedisBackend {
    connection: ConnectionManager,
    put_script: Script,
    delete_script: Script,
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        if e.is_timeout()
            || e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            StoreError::Unavailable(format!("Redis is unreachable: {}", e.kind_name()))
        } else {
            StoreError::Unavailable(format!("Redis failed: {}", e.kind_name()))
        }
    }
}

trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for redis::RedisError {
    /// The error's category and code, never its free text (which can echo arguments).
    fn kind_name(&self) -> String {
        match self.code() {
            Some(code) => format!("{:?} ({code})", self.kind()),
            None => format!("{:?}", self.kind()),
        }
    }
}

fn outcome(code: i64) -> WriteOutcome {
    match code {
        1 => WriteOutcome::Done,
        0 => WriteOutcome::Conflict,
        _ => WriteOutcome::Missing,
    }
}

impl RedisBackend {
    /// Connects; with `cache_entries` > 0, over RESP3 with client-side caching of the
    /// reads that opt in (Redis pushes an invalidation when a cached key changes).
    pub async fn connect(
        url: &str,
        timeout: Duration,
        cache_entries: usize,
    ) -> Result<Self, StoreError> {
        let invalid = || StoreError::Config("redis.url is not a valid Redis URL".into());
        let mut info = url.into_connection_info().map_err(|_| invalid())?;
        let mut config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        if let Some(size) = NonZeroUsize::new(cache_entries) {
            let settings = info
                .redis_settings()
                .clone()
                .set_protocol(ProtocolVersion::RESP3);
            info = info.set_redis_settings(settings);
            config = config
                .set_cache_config(CacheConfig::new().set_mode(CacheMode::OptIn).set_size(size));
        }
        let client = redis::Client::open(info).map_err(|_| invalid())?;
        let connection = client.get_connection_manager_with_config(config).await?;
        Ok(Self {
            connection,
            put_script: Script::new(PUT_IF_VERSION),
            delete_script: Script::new(DELETE_IF_VERSION),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn()).await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.conn().get(key).await?)
    }

    /// `GET`, served from the client-side cache when the connection has one.
    pub async fn get_cached(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(redis::cmd("GET")
            .arg(key)
            .set_cache_config(CommandCacheConfig::new())
            .query_async(&mut self.conn())
            .await?)
    }

    /// Reads several documents in one pipeline (not MGET: the keys may live in different
    /// cluster slots).
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.get(key);
        }
        Ok(pipe.query_async(&mut self.conn()).await?)
    }

    pub async fn put_if_version(
        &self,
        key: &str,
        expected: Option<u64>,
        doc: &str,
    ) -> Result<WriteOutcome, StoreError> {
        let expected = expected.map(|v| v.to_string()).unwrap_or_default();
        let code: i64 = self
            .put_script
            .key(key)
            .arg(expected)
            .arg(doc)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(outcome(code))
    }

    pub async fn delete_if_version(
        &self,
        key: &str,
        seen: &str,
        expected: Option<u64>,
    ) -> Result<WriteOutcome, StoreError> {
        let expected = expected.map(|v| v.to_string()).unwrap_or_default();
        let code: i64 = self
            .delete_script
            .key(key)
            .key(seen)
            .arg(expected)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(outcome(code))
    }

    pub async fn index_add(&self, key: &str, score: u64, member: &str) -> Result<(), StoreError> {
        let _: i64 = self.conn().zadd(key, member, score).await?;
        Ok(())
    }

    pub async fn index_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let _: i64 = self.conn().zrem(key, member).await?;
        Ok(())
    }

    pub async fn index_len(&self, key: &str) -> Result<u64, StoreError> {
        Ok(self.conn().zcard(key).await?)
    }

    /// Up to `limit` entries strictly after `after` in (score, member) order.
    pub async fn index_after(
        &self,
        key: &str,
        after: Option<&IndexEntry>,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let mut conn = self.conn();
        let count = isize::try_from(limit).unwrap_or(isize::MAX);
        let raw: Scored = match after {
            None => conn.zrange_withscores(key, 0, count - 1).await?,
            Some(cursor) => {
                // Entries sharing the cursor's score come after it when their member sorts
                // after it (Redis orders equal scores by member bytes, as `str` does); then
                // the entries of higher scores. Both in one round trip.
                let (same, rest): (Scored, Scored) = redis::pipe()
                    .zrangebyscore_withscores(key, cursor.score, cursor.score)
                    .zrangebyscore_limit_withscores(
                        key,
                        format!("({}", cursor.score),
                        "+inf",
                        0,
                        count,
                    )
                    .query_async(&mut conn)
                    .await?;
                same.into_iter()
                    .filter(|(member, _)| member.as_str() > cursor.member.as_str())
                    .chain(rest)
                    .collect()
            }
        };
        Ok(raw
            .into_iter()
            .take(limit)
            .map(|(member, score)| IndexEntry { score, member })
            .collect())
    }

    pub async fn hash_set(&self, key: &str, fields: &[(&str, u64)]) -> Result<(), StoreError> {
        let _: () = self.conn().hset_multiple(key, fields).await?;
        Ok(())
    }

    /// Several HASHes in one pipeline (one round trip; keys may span cluster slots).
    pub async fn hash_get_all_many(
        &self,
        keys: &[String],
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.hgetall(key);
        }
        Ok(pipe.query_async(&mut self.conn()).await?)
    }

    /// Every entry time of each time-window ZSET, read through the client-side cache (the
    /// sets are small: nothing is added to a set past its limit). Reads concurrently.
    pub async fn window_entries(&self, keys: [&str; 2]) -> Result<[Vec<u64>; 2], StoreError> {
        let read = |key: &str| {
            let mut cmd = redis::cmd("ZRANGE");
            cmd.arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .set_cache_config(CommandCacheConfig::new());
            async move {
                let entries: Scored = cmd.query_async(&mut self.conn()).await?;
                Ok::<_, StoreError>(entries.into_iter().map(|(_, at)| at).collect())
            }
        };
        let (first, second) = futures_util::future::try_join(read(keys[0]), read(keys[1])).await?;
        Ok([first, second])
    }

    /// Adds an entry at `now` to each time-window ZSET, dropping entries older than
    /// `window_ms`; each set expires `window_ms` after its last entry.
    pub async fn window_add(
        &self,
        keys: [&str; 2],
        now: u64,
        window_ms: u64,
    ) -> Result<(), StoreError> {
        let member = format!("{now}-{}", rand::random::<u32>());
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(key)
                .arg("-inf")
                .arg(now.saturating_sub(window_ms))
                .ignore();
            pipe.zadd(key, &member, now).ignore();
            pipe.pexpire(key, i64::try_from(window_ms).unwrap_or(i64::MAX))
                .ignore();
        }
        let () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let _: i64 = self.conn().del(key).await?;
        Ok(())
    }
}
