//! The Redis backend: a multiplexed connection that reconnects by itself (to one Redis, or
//! to every node of a Redis Cluster), with a timeout on every command. Writes to a client
//! document are compare-and-set in Lua on the document's `version`, so concurrent writers
//! never lose each other's changes.
//!
//! Cluster-safe throughout: a command or script touches one slot (one client's keys share
//! a hash tag), and reads of keys in different slots are separate commands sent together
//! (a multiplexed connection pipelines them), never one pipeline.

use std::collections::HashMap;
use std::time::Duration;

use std::num::NonZeroUsize;

use futures_util::future::try_join_all;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::caching::{CacheConfig, CacheMode};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncCommands, Cmd, CommandCacheConfig, IntoConnectionInfo, Pipeline, ProtocolVersion,
    RedisFuture, Script, Value,
};

use super::keys::SEEN_CLIENT_FIELD;
use super::{IndexEntry, StoreError, WindowSlot, WriteOutcome};
use crate::config::RedisSettings;

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

/// Record a use of secret ARGV[1] at ARGV[2] ms in the seen-HASH (KEYS[2]), under the
/// secret's id and under ARGV[3] (the client's own field), only while the
/// client document (KEYS[1], same slot) exists and still holds that secret: a write that
/// lands after a delete must not leave keys behind.
const RECORD_USE: &str = r"
local doc = redis.call('GET', KEYS[1])
if not doc then return 0 end
for _, secret in ipairs(cjson.decode(doc)['secrets'] or {}) do
  if secret['id'] == ARGV[1] then
    redis.call('HSET', KEYS[2], ARGV[3], ARGV[2], ARGV[1], ARGV[2])
    return 1
  end
end
return 0
";

/// Take a place in a time-window ZSET (KEYS[1]) at ARGV[1] ms for ARGV[4], unless the
/// window of ARGV[2] ms already holds ARGV[3] entries. Returns -1 when the place was taken,
/// else the oldest entry's time.
const WINDOW_RESERVE: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2])
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
";

/// ZSET members with their scores, as `WITHSCORES` replies give them.
type Scored = Vec<(String, u64)>;

/// One Redis or a Redis Cluster, behind one interface.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

#[derive(Clone)]
pub struct RedisBackend {
    connection: Connection,
    put_script: Script,
    delete_script: Script,
    reserve_script: Script,
    use_script: Script,
}

impl From<redis::RedisError> for StoreError {
    /// Whether retrying later can help decides 503 or 500. The message names the error's
    /// kind and code, never its free text (which can echo arguments).
    fn from(e: redis::RedisError) -> Self {
        let timeout = e.is_timeout();
        let error = classify(e);
        let kind = match &error {
            StoreError::Unavailable(_) if timeout => "timeout",
            StoreError::Unavailable(_) => "unavailable",
            _ => "failed",
        };
        crate::metrics::inc_vec(|m| &m.redis_errors, &[kind]);
        error
    }
}

/// [`StoreError`] of a Redis error: unavailable (503) or failed (500).
fn classify(e: redis::RedisError) -> StoreError {
    {
        use redis::{ErrorKind, ServerErrorKind};
        if e.is_timeout()
            || e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            // The operating system's reason (refused, no such host, ...) is safe to show;
            // Redis's own free text is not.
            let reason = match std::error::Error::source(&e) {
                Some(io) if e.is_io_error() => io.to_string(),
                _ => e.kind_name().to_owned(),
            };
            return StoreError::Unavailable(format!("Redis is unreachable: {reason}"));
        }
        // Busy, loading, failing over, read-only replica, out of memory: Redis is there
        // but cannot serve the command now.
        let transient = matches!(
            e.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ReadOnly
                        | ServerErrorKind::Moved
                        | ServerErrorKind::Ask
                )
        ) || matches!(
            e.code(),
            Some("OOM" | "BUSY" | "NOREPLICAS" | "MISCONF" | "LOADING")
        );
        if transient {
            StoreError::Unavailable(format!("Redis cannot serve now: {}", e.kind_name()))
        } else {
            StoreError::Failed(format!("Redis refused a command: {}", e.kind_name()))
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

/// A connection failure naming where (the URL without its password) and the operating
/// system's reason (connection refused, no such host, ...).
fn unreachable_at(url: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(why) => {
            StoreError::Unavailable(format!("{why} (redis.url {})", redacted_url(url)))
        }
        other => other,
    }
}

/// `url` (or a comma-separated list of them) with any password replaced by `***`.
pub(crate) fn redacted_url(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let one = one.trim();
            let Some((scheme, rest)) = one.split_once("://") else {
                return one.to_owned();
            };
            match rest.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or("");
                    if userinfo.contains(':') {
                        format!("{scheme}://{user}:***@{host}")
                    } else {
                        format!("{scheme}://***@{host}")
                    }
                }
                None => one.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl RedisBackend {
    /// Connects; with `client_cache_entries` > 0, over RESP3 with client-side caching of
    /// the reads that opt in (Redis pushes an invalidation when a cached key changes).
    pub async fn connect(settings: &RedisSettings) -> Result<Self, StoreError> {
        let timeout = settings.timeout;
        let cache = NonZeroUsize::new(settings.client_cache_entries)
            .map(|size| CacheConfig::new().set_mode(CacheMode::OptIn).set_size(size));
        let connection = if settings.cluster {
            connect_cluster(&settings.url, timeout, cache)
                .await
                .map(Connection::Cluster)
        } else {
            connect_single(&settings.url, timeout, cache)
                .await
                .map(Connection::Single)
        }
        .map_err(|e| unreachable_at(&settings.url, e))?;
        Ok(Self {
            connection,
            put_script: Script::new(PUT_IF_VERSION),
            delete_script: Script::new(DELETE_IF_VERSION),
            reserve_script: Script::new(WINDOW_RESERVE),
            use_script: Script::new(RECORD_USE),
        })
    }

    fn conn(&self) -> Connection {
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

    /// Reads several documents at once (not MGET: the keys may live in different cluster
    /// slots).
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        try_join_all(
            keys.iter()
                .map(|key| async move { Ok::<_, StoreError>(self.conn().get(key).await?) }),
        )
        .await
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

    pub async fn record_use(
        &self,
        client: &str,
        seen: &str,
        secret: &str,
        at_ms: u64,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .use_script
            .key(client)
            .key(seen)
            .arg(secret)
            .arg(at_ms)
            .arg(SEEN_CLIENT_FIELD)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Several HASHes at once (the keys may span cluster slots).
    pub async fn hash_get_all_many(
        &self,
        keys: &[String],
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        try_join_all(
            keys.iter()
                .map(|key| async move { Ok::<_, StoreError>(self.conn().hgetall(key).await?) }),
        )
        .await
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

    /// Adds `member` at `now` to a time-window ZSET unless it already holds `limit` entries
    /// within the window, atomically (one script, one key, one slot).
    pub async fn window_reserve(
        &self,
        key: &str,
        member: &str,
        now: u64,
        window_ms: u64,
        limit: u64,
    ) -> Result<WindowSlot, StoreError> {
        let oldest: i64 = self
            .reserve_script
            .key(key)
            .arg(now)
            .arg(window_ms)
            .arg(limit)
            .arg(member)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(match u64::try_from(oldest) {
            Ok(oldest_ms) => WindowSlot::Full { oldest_ms },
            Err(_) => WindowSlot::Taken,
        })
    }

    pub async fn window_release(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let _: i64 = self.conn().zrem(key, member).await?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let _: i64 = self.conn().del(key).await?;
        Ok(())
    }

    /// `SET key value PX ttl_ms`.
    pub async fn set_expiring(&self, key: &str, value: u64, ttl_ms: u64) -> Result<(), StoreError> {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// `SET key value NX PX ttl_ms`: whether it was set (false: the key exists).
    pub async fn set_new_expiring(
        &self,
        key: &str,
        value: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.conn())
            .await?;
        Ok(set.is_some())
    }

    /// `XADD key MAXLEN ~ max_len * entry <entry>`: Redis trims whole macro nodes, so the
    /// stream holds at least `max_len` entries and not many more.
    pub async fn stream_append(
        &self,
        key: &str,
        entry: &str,
        max_len: usize,
        _now_ms: u64,
    ) -> Result<String, StoreError> {
        Ok(redis::cmd("XADD")
            .arg(key)
            .arg("MAXLEN")
            .arg("~")
            .arg(max_len)
            .arg("*")
            .arg("entry")
            .arg(entry)
            .query_async(&mut self.conn())
            .await?)
    }

    /// `XREVRANGE key (<before>|+ - COUNT count`: newest first, strictly older than `before`.
    pub async fn stream_before(
        &self,
        key: &str,
        before: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let end = before.map_or_else(|| "+".to_owned(), |id| format!("({id}"));
        let raw: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
            .arg(key)
            .arg(end)
            .arg("-")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn())
            .await?;
        Ok(raw
            .into_iter()
            .filter_map(|(id, fields)| {
                let entry = fields.into_iter().find(|(name, _)| name == "entry")?.1;
                Some((id, entry))
            })
            .collect())
    }
}

async fn connect_single(
    url: &str,
    timeout: Duration,
    cache: Option<CacheConfig>,
) -> Result<ConnectionManager, StoreError> {
    let invalid = || StoreError::Config("redis.url is not a valid Redis URL".into());
    let mut info = url.into_connection_info().map_err(|_| invalid())?;
    let mut config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(1));
    if let Some(cache) = cache {
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        info = info.set_redis_settings(settings);
        config = config.set_cache_config(cache);
    }
    let client = redis::Client::open(info).map_err(|_| invalid())?;
    Ok(client.get_connection_manager_with_config(config).await?)
}

/// `urls`: comma-separated seed nodes; the client learns the rest of the cluster from them
/// and follows slot moves by itself.
async fn connect_cluster(
    urls: &str,
    timeout: Duration,
    cache: Option<CacheConfig>,
) -> Result<ClusterConnection, StoreError> {
    let invalid = || {
        StoreError::Config(
            "redis.url must list Redis Cluster nodes (redis://host:port), comma-separated".into(),
        )
    };
    let nodes = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| url.into_connection_info().map_err(|_| invalid()))
        .collect::<Result<Vec<_>, _>>()?;
    if nodes.is_empty() {
        return Err(invalid());
    }
    let mut builder = ClusterClientBuilder::new(nodes)
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(2)
        .max_retry_wait(1000);
    if let Some(cache) = cache {
        builder = builder
            .use_protocol(ProtocolVersion::RESP3)
            .cache_config(cache);
    }
    let client = builder.build().map_err(|_| invalid())?;
    Ok(client.get_async_connection().await?)
}
