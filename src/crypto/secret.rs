//! Plain secrets and argon2id.
//!
//! A plain secret exists only in the response that created it and in the request that
//! presents it. [`PlainSecret`] redacts itself in `Debug`; its value is reachable only
//! through [`PlainSecret::expose`], which marks each place that handles it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use rand::distr::Alphanumeric;
use rand::{Rng, RngExt};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::config::Argon2Settings;
use crate::domain::SecretHash;

/// Random characters in a generated secret, after the prefix: 64 × log2(62) ≈ 381 bits.
const RANDOM_CHARS: usize = 64;

/// Zeroed when dropped (zeroize), so a presented or generated secret does not linger in
/// freed memory; redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainSecret(Zeroizing<String>);

impl PlainSecret {
    /// A new secret: `prefix` followed by 64 characters drawn uniformly from `[A-Za-z0-9]`
    /// by the thread-local CSPRNG.
    pub fn generate(prefix: &str) -> Self {
        let mut secret = Zeroizing::new(String::with_capacity(prefix.len() + RANDOM_CHARS));
        secret.push_str(prefix);
        secret.extend(
            rand::rng()
                .sample_iter(Alphanumeric)
                .take(RANDOM_CHARS)
                .map(char::from),
        );
        Self(secret)
    }

    pub fn from_presented(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four characters, stored so admins can tell secrets apart.
    pub fn suffix(&self) -> String {
        let start = self.0.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
        self.0[start..].to_owned()
    }
}

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainSecret(<hidden>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 parameters are invalid: {0}")]
    Params(String),
    #[error("argon2 hashing failed")]
    Hash,
    #[error("the argon2 worker stopped")]
    Worker,
    /// The queue in front of argon2 is full: answer "retry later" instead of waiting.
    #[error("too many secret checks at once")]
    Busy,
}

/// A unit of argon2 work for a pool thread.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// Salt length of new hashes, in bytes (the PHC recommendation).
const SALT_LEN: usize = 16;
/// Hash output length of new hashes, in bytes.
const OUTPUT_LEN: usize = 32;

/// One pool thread's argon2: the parameters of new hashes and one memory buffer that
/// every computation on the thread reuses, so argon2 never allocates per call.
struct Worker {
    params: Params,
    blocks: Vec<Block>,
}

impl Worker {
    fn new(params: Params) -> Self {
        Self {
            blocks: vec![Block::default(); params.block_count()],
            params,
        }
    }

    /// The first `params.block_count()` blocks of the buffer, grown if a stored hash asks
    /// for more memory than new hashes use.
    fn memory(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.blocks.len() < needed {
            self.blocks.resize(needed, Block::default());
        }
        &mut self.blocks[..needed]
    }

    /// A new argon2id PHC string for `secret`, with a random salt.
    fn hash(&mut self, secret: &[u8]) -> Result<SecretHash, HashError> {
        let mut salt = [0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        let mut out = [0u8; OUTPUT_LEN];
        let params = self.params.clone();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(secret, &salt, &mut out, self.memory(&params))
            .map_err(|_| HashError::Hash)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|_| HashError::Hash)?,
            salt: Some(Salt::new(&salt).map_err(|_| HashError::Hash)?),
            hash: Some(Output::new(&out).map_err(|_| HashError::Hash)?),
        };
        Ok(SecretHash::new(phc.to_string()))
    }

    /// Whether `secret` matches the PHC string `phc` (compared in constant time); a
    /// malformed or unsupported hash matches nothing.
    fn verify(&mut self, phc: &str, secret: &[u8]) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return false;
        };
        let Ok(params) = Params::try_from(&hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
            return false;
        };
        let version = match hash.version.map(Version::try_from).transpose() {
            Ok(version) => version.unwrap_or_default(),
            Err(_) => return false,
        };
        let mut buffer = [0u8; Output::MAX_LENGTH];
        let Some(out) = buffer.get_mut(..expected.len()) else {
            return false;
        };
        let computed = Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(secret, salt, out, self.memory(&params));
        computed.is_ok() && verify_slices_are_equal(out, expected.as_bytes()).is_ok()
    }
}

/// argon2id hashing and verification off the async workers.
///
/// A fixed pool of `max_concurrent` threads runs the computations (each holds `memory_kib`
/// of RAM and a CPU core). A fixed pool rather than tokio's blocking pool because the
/// allocator keeps freed argon2 memory per thread: many short-lived blocking threads
/// would each keep their own copy. Callers wait for the result without occupying a worker
/// thread. `admitted` bounds running plus queued: past it a call fails at once with
/// [`HashError::Busy`], so a storm of cold requests gets quick 503s instead of an
/// unbounded queue.
#[derive(Clone)]
pub struct Hasher {
    admitted: Arc<Semaphore>,
    jobs: std::sync::mpsc::Sender<Job>,
    /// The number of pool threads, and the most computations seen running at once
    /// (reported by `/readyz`, so a benchmark can show the bound holds).
    bound: usize,
    /// Running plus queued at most (the semaphore's size).
    capacity: usize,
    peak: Arc<AtomicUsize>,
    /// Computations finished since start (reported by `/readyz`).
    runs: Arc<AtomicU64>,
    /// A hash of a random value, verified against when there is no real hash to check, so
    /// that an unknown client costs the same time as a wrong secret.
    dummy: Arc<SecretHash>,
}

impl Hasher {
    pub fn new(settings: &Argon2Settings) -> Result<Self, HashError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations.get(),
            settings.parallelism.get(),
            None,
        )
        .map_err(|e| HashError::Params(e.to_string()))?;
        let threads = settings.max_concurrent.resolve().get();
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let active = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let runs = Arc::new(AtomicU64::new(0));
        for n in 0..threads {
            let (queue, params) = (Arc::clone(&queue), params.clone());
            let (active, peak) = (Arc::clone(&active), Arc::clone(&peak));
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    let mut worker = Worker::new(params);
                    // Ends when every Hasher (every sender) is gone.
                    loop {
                        let job = queue.lock().recv();
                        let Ok(job) = job else { break };
                        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        job(&mut worker);
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                })
                .map_err(|_| HashError::Worker)?;
        }
        // The dummy hash is made on the pool too: no other thread ever holds argon2 memory.
        let (made, dummy) = std::sync::mpsc::channel();
        let dummy_secret = PlainSecret::generate("dummy_");
        let counted = Arc::clone(&runs);
        jobs.send(Box::new(move |worker: &mut Worker| {
            let hash = worker.hash(dummy_secret.expose().as_bytes());
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = made.send(hash);
        }))
        .map_err(|_| HashError::Worker)?;
        let dummy = dummy.recv().map_err(|_| HashError::Worker)??;
        Ok(Self {
            admitted: Arc::new(Semaphore::new(threads + settings.max_queue)),
            jobs,
            bound: threads,
            capacity: threads + settings.max_queue,
            peak,
            runs,
            dummy: Arc::new(dummy),
        })
    }

    /// A place among the running and queued computations, or `Busy` at once.
    fn admit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, HashError> {
        self.admitted.try_acquire().map_err(|_| {
            crate::metrics::inc(|m| &m.argon2_rejected);
            HashError::Busy
        })
    }

    /// Computations running or queued now.
    pub fn in_flight(&self) -> usize {
        self.capacity
            .saturating_sub(self.admitted.available_permits())
    }

    /// Runs `work` on the pool once admitted; waits without blocking the caller's thread.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Worker) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _admitted = self.admit()?;
        let (done, result) = tokio::sync::oneshot::channel();
        let runs = Arc::clone(&self.runs);
        let job: Job = Box::new(move |worker| {
            let out = work(worker);
            // Counted before the caller hears the answer, so a caller that has its answer
            // always finds its run counted.
            runs.fetch_add(1, Ordering::SeqCst);
            crate::metrics::inc(|m| &m.argon2_runs);
            let _ = done.send(out);
        });
        self.jobs.send(job).map_err(|_| HashError::Worker)?;
        result.await.map_err(|_| HashError::Worker)
    }

    /// (the configured bound, the most computations ever seen running at once).
    pub fn concurrency(&self) -> (usize, usize) {
        (self.bound, self.peak.load(Ordering::SeqCst))
    }

    /// Computations finished since start, the dummy hash made at start included.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::SeqCst)
    }

    pub async fn hash(&self, secret: &PlainSecret) -> Result<SecretHash, HashError> {
        let secret = secret.clone();
        self.run(move |worker| worker.hash(secret.expose().as_bytes()))
            .await?
    }

    /// Whether `secret` matches `hash`; with no hash, verifies against the dummy hash and
    /// answers false, taking the same time.
    pub async fn verify(
        &self,
        hash: Option<&SecretHash>,
        secret: &PlainSecret,
    ) -> Result<bool, HashError> {
        let known = hash.is_some();
        let hash = hash.cloned().unwrap_or_else(|| (*self.dummy).clone());
        let secret = secret.clone();
        let matched = self
            .run(move |worker| worker.verify(hash.as_str(), secret.expose().as_bytes()))
            .await?;
        Ok(known && matched)
    }
}

#[cfg(test)]
mod tests {
    use std::num::{NonZeroU32, NonZeroUsize};

    use super::*;
    use crate::config::Threads;

    fn cheap() -> Argon2Settings {
        Argon2Settings {
            memory_kib: 1024,
            iterations: NonZeroU32::MIN,
            parallelism: NonZeroU32::MIN,
            max_concurrent: Threads::fixed(NonZeroUsize::MIN),
            max_queue: 4,
        }
    }

    #[test]
    fn generated_secrets_have_the_prefix_and_64_alphanumerics() {
        let secret = PlainSecret::generate("tm_");
        let random = secret.expose().strip_prefix("tm_").expect("prefix");
        assert_eq!(random.len(), 64);
        assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(PlainSecret::generate("tm_"), secret);
        assert_eq!(
            secret.suffix(),
            &secret.expose()[secret.expose().len() - 4..]
        );
        assert_eq!(format!("{secret:?}"), "PlainSecret(<hidden>)");
    }

    #[tokio::test]
    async fn a_hash_verifies_its_secret_only() {
        let hasher = Hasher::new(&cheap()).unwrap();
        let secret = PlainSecret::generate("tm_");
        let hash = hasher.hash(&secret).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(!hash.as_str().contains(secret.expose()));
        assert!(hasher.verify(Some(&hash), &secret).await.unwrap());
        assert!(
            !hasher
                .verify(Some(&hash), &PlainSecret::generate("tm_"))
                .await
                .unwrap()
        );
        assert!(!hasher.verify(None, &secret).await.unwrap());
    }

    #[tokio::test]
    async fn calls_past_the_queue_bound_are_refused_at_once() {
        let hasher = Hasher::new(&Argon2Settings {
            max_queue: 1,
            ..cheap()
        })
        .unwrap();
        // One thread plus a queue of one: two places.
        let first = hasher.admit().unwrap();
        let second = hasher.admit().unwrap();
        assert!(matches!(hasher.admit(), Err(HashError::Busy)));
        let secret = PlainSecret::generate("tm_");
        assert!(matches!(
            hasher.verify(None, &secret).await,
            Err(HashError::Busy)
        ));
        drop((first, second));
        assert!(
            hasher.verify(None, &secret).await.is_ok(),
            "capacity comes back"
        );
    }

    #[tokio::test]
    async fn no_more_computations_run_at_once_than_pool_threads() {
        let hasher = Hasher::new(&Argon2Settings {
            max_concurrent: Threads::fixed(NonZeroUsize::new(2).unwrap()),
            max_queue: 16,
            ..cheap()
        })
        .unwrap();
        let secret = PlainSecret::generate("tm_");
        let calls = (0..12).map(|_| hasher.verify(None, &secret));
        for result in futures_util::future::join_all(calls).await {
            assert!(result.is_ok());
        }
        let (bound, peak) = hasher.concurrency();
        assert_eq!(bound, 2);
        assert!((1..=2).contains(&peak), "peak {peak}");
    }

    #[test]
    fn hashes_interoperate_with_the_argon2_crates_own_hasher_and_verifier() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let params = Params::new(1024, 1, 1, None).unwrap();
        let standard = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut worker = Worker::new(params);
        let ours = worker.hash(b"tm_secret").unwrap();
        assert!(
            ours.as_str().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{}",
            ours.as_str()
        );
        let parsed = PasswordHash::new(ours.as_str()).unwrap();
        assert!(standard.verify_password(b"tm_secret", &parsed).is_ok());
        assert!(standard.verify_password(b"tm_other", &parsed).is_err());
        let theirs = standard.hash_password(b"tm_secret").unwrap().to_string();
        assert!(worker.verify(&theirs, b"tm_secret"));
        assert!(!worker.verify(&theirs, b"tm_other"));
        // A stored hash with more memory than new hashes use still verifies.
        let bigger = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(2048, 1, 1, None).unwrap(),
        );
        let stored = bigger.hash_password(b"tm_secret").unwrap().to_string();
        assert!(worker.verify(&stored, b"tm_secret"));
        assert!(!worker.verify("not a phc string", b"tm_secret"));
    }
}
