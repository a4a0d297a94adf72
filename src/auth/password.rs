//! Password hashing on a fixed set of worker threads, never on the async runtime.
//!
//! argon2id fills 19 MiB per hash. Hashed on tokio's blocking pool, each new blocking thread
//! got an allocator arena of its own that kept its freed 19 MiB: 32 clients logging in left
//! about 420 MiB behind for good. Here each of `hash_concurrency` workers maps one working
//! area from the OS, reuses it while hashes keep coming, and unmaps it as soon as none is
//! waiting, so memory is bounded by the workers while logins come and given back when they stop.

use std::{
    ptr::NonNull,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{
        phc::{Output, ParamsString, PasswordHash, Salt},
        try_generate_salt,
    },
};
use tokio::sync::oneshot;

use super::django_password;
use crate::{domain::Password, telemetry::RequestLabel};

/// argon2id cost; OWASP's minimum (m=19456 KiB, t=2, p=1) by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// A request that waited this long for a worker is told to come back later instead of being
/// hashed: under a login flood the wait stays bounded.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// Hashes waiting for a worker, at most; past it a request is told to come back later at once.
/// Each waiting hash holds a connection, which are capped too; this keeps the queue bounded
/// whatever that cap is set to.
pub const MAX_WAITING_HASHES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("every password hashing worker stayed busy")]
    Busy,
    #[error("password hashing failed: {0:#}")]
    Failed(anyhow::Error),
}

/// Hashes and verifies passwords on `concurrency` worker threads.
pub struct PasswordHasher {
    params: Params,
    jobs: flume::Sender<Job>,
    /// How often workers mapped and unmapped their areas: the regression guard that memory
    /// is reused across hashes, not allocated per hash, and given back when idle.
    #[cfg(test)]
    areas: Arc<AreaCounts>,
}

struct Job {
    password: Password,
    task: Task,
    queued_at: Instant,
    /// The request that queued it, named on what the worker logs.
    request: Option<RequestLabel>,
}

enum Task {
    Hash(oneshot::Sender<Result<String, HashError>>),
    /// `None`: an unknown user, checked against the dummy hash.
    Verify(Option<String>, oneshot::Sender<Result<bool, HashError>>),
}

impl Task {
    /// The request went away (client gone): nobody needs this hash.
    fn abandoned(&self) -> bool {
        match self {
            Task::Hash(reply) => reply.is_closed(),
            Task::Verify(_, reply) => reply.is_closed(),
        }
    }

    fn refuse(self, error: HashError) {
        match self {
            Task::Hash(reply) => {
                let _ = reply.send(Err(error));
            }
            Task::Verify(_, reply) => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

impl PasswordHasher {
    pub fn new(cost: HashCost, concurrency: usize) -> anyhow::Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|err| anyhow::anyhow!("invalid argon2 parameters: {err}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut memory = WorkingArea::map(params.block_count())?;
        let dummy_hash = hash_into(
            &argon2,
            &mut memory,
            b"tessera dummy password: never matches",
        )
        .map_err(|err| anyhow::anyhow!("{err}"))?;
        drop(memory);
        let worker = Arc::new(Worker { argon2, dummy_hash });
        let areas = Arc::new(AreaCounts::default());
        let (jobs, queue) = flume::bounded(MAX_WAITING_HASHES);
        for number in 0..concurrency.max(1) {
            let (worker, queue, areas) = (worker.clone(), queue.clone(), areas.clone());
            std::thread::Builder::new()
                .name(format!("tessera-hash-{number}"))
                .spawn(move || worker.run(&queue, &areas))?;
        }
        Ok(Self {
            params,
            jobs,
            #[cfg(test)]
            areas,
        })
    }

    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(password, Task::Hash(reply))?;
        answer.await.map_err(|_| worker_lost())?
    }

    /// Whether a stored hash was made with other parameters than today's: it is replaced on the
    /// next successful login, so old costs do not linger (nor stand out by their timing).
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let expected = &self.params;
        match PasswordHash::new(stored) {
            Ok(parsed) => {
                parsed.algorithm.as_str() != "argon2id"
                    || Params::try_from(&parsed).map_or(true, |params| {
                        (params.m_cost(), params.t_cost(), params.p_cost())
                            != (expected.m_cost(), expected.t_cost(), expected.p_cost())
                    })
            }
            Err(_) => true,
        }
    }

    /// `stored` is `None` for an unknown user: the dummy hash is checked and `false` returned.
    /// Besides our own argon2id, the hashes Django makes are accepted (imported users); an
    /// unusable or unknown one costs what a wrong password costs and never matches.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let stored = stored
            .filter(|hash| PasswordHash::new(hash).is_ok() || django_password::is_supported(hash));
        let known = stored.is_some();
        let (reply, answer) = oneshot::channel();
        self.submit(password, Task::Verify(stored, reply))?;
        let matches = answer.await.map_err(|_| worker_lost())??;
        Ok(known && matches)
    }

    fn submit(&self, password: Password, task: Task) -> Result<(), HashError> {
        let job = Job {
            password,
            task,
            queued_at: Instant::now(),
            request: RequestLabel::with_current(RequestLabel::clone),
        };
        self.jobs.try_send(job).map_err(|err| match err {
            flume::TrySendError::Full(_) => HashError::Busy,
            flume::TrySendError::Disconnected(_) => worker_lost(),
        })
    }
}

/// A reply sender dropped unanswered: a worker panicked on the hash. A bug, so a 500.
fn worker_lost() -> HashError {
    HashError::Failed(anyhow::anyhow!("a password hashing worker stopped"))
}

struct Worker {
    argon2: Argon2<'static>,
    /// Checked when the username is unknown, so that costs what a wrong password costs.
    dummy_hash: String,
}

impl Worker {
    fn run(&self, queue: &flume::Receiver<Job>, areas: &AreaCounts) {
        let mut memory = None;
        loop {
            let job = match queue.try_recv() {
                Ok(job) => job,
                Err(flume::TryRecvError::Disconnected) => return,
                Err(flume::TryRecvError::Empty) => {
                    // Nobody else is logging in: give the pages back before waiting, so a
                    // waiting worker never holds them.
                    if memory.take().is_some() {
                        areas.unmapped.fetch_add(1, Ordering::Relaxed);
                    }
                    match queue.recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    }
                }
            };
            self.take(job, &mut memory, areas);
        }
    }

    fn take(&self, mut job: Job, memory: &mut Option<WorkingArea>, areas: &AreaCounts) {
        match job.request.take() {
            Some(request) => request.run(|| self.work(job, memory, areas)),
            None => self.work(job, memory, areas),
        }
    }

    fn work(&self, job: Job, memory: &mut Option<WorkingArea>, areas: &AreaCounts) {
        if job.task.abandoned() {
            return;
        }
        if job.queued_at.elapsed() > QUEUE_TIMEOUT {
            job.task.refuse(HashError::Busy);
            return;
        }
        let area = match memory.take() {
            Some(area) => area,
            None => match WorkingArea::map(self.argon2.params().block_count()) {
                Ok(area) => {
                    areas.mapped.fetch_add(1, Ordering::Relaxed);
                    area
                }
                Err(err) => {
                    job.task.refuse(HashError::Failed(anyhow::anyhow!(
                        "cannot map memory for password hashing: {err}"
                    )));
                    return;
                }
            },
        };
        self.answer(
            job.task,
            job.password.expose().as_bytes(),
            memory.insert(area),
        );
    }

    fn answer(&self, task: Task, password: &[u8], memory: &mut WorkingArea) {
        match task {
            Task::Hash(reply) => {
                let _ = reply.send(
                    hash_into(&self.argon2, memory, password)
                        .map_err(|err| HashError::Failed(anyhow::anyhow!("argon2: {err}"))),
                );
            }
            Task::Verify(stored, reply) => {
                let hash = stored.as_deref().unwrap_or(&self.dummy_hash);
                let matches = match PasswordHash::new(hash) {
                    Ok(parsed) => verify_phc(memory, password, &parsed),
                    Err(_) => std::str::from_utf8(password)
                        .is_ok_and(|password| django_password::verify(password, hash)),
                };
                let _ = reply.send(Ok(matches));
            }
        }
    }
}

/// Our own hashes: argon2id, today's cost, a fresh 16-byte salt, as a PHC string.
fn hash_into(
    argon2: &Argon2<'_>,
    memory: &mut WorkingArea,
    password: &[u8],
) -> Result<String, argon2::password_hash::Error> {
    let salt = try_generate_salt()?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2.hash_password_into_with_memory(password, &salt, &mut out, memory.blocks())?;
    Ok(PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(&out)?),
    }
    .to_string())
}

/// Any argon2 PHC string, with its own algorithm, version and cost; in the worker's area when
/// it fits, which it does for every hash made with today's cost or a cheaper one.
fn verify_phc(memory: &mut WorkingArea, password: &[u8], hash: &PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    let computed = if params.block_count() <= memory.blocks().len() {
        argon2.hash_password_into_with_memory(password, salt, out, memory.blocks())
    } else {
        argon2.hash_password_into(password, salt, out)
    };
    // `Output`'s equality is constant-time.
    computed.is_ok() && Output::new(out).is_ok_and(|computed| computed == *expected)
}

#[derive(Default)]
struct AreaCounts {
    mapped: AtomicUsize,
    unmapped: AtomicUsize,
}

/// One worker's argon2 memory, mapped straight from the OS: unmapping gives the pages back at
/// once, where a freed heap block would stay in the thread's allocator arena.
struct WorkingArea {
    blocks: NonNull<Block>,
    len: usize,
}

impl WorkingArea {
    fn map(len: usize) -> std::io::Result<Self> {
        let bytes = len * Block::SIZE;
        // SAFETY: a new private anonymous mapping, aliased by nothing; the kernel zero-fills it
        // and aligns it to a page, more than `Block`'s 64 bytes.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // argon2 reads its memory at data-dependent places all over it: on 4 KiB pages most
        // reads miss the TLB. Huge pages where the kernel can give them (where transparent huge
        // pages are on `madvise`, as is common, only if asked); refused, the area works as is.
        // SAFETY: advice on the mapping just made, of its size.
        unsafe {
            libc::madvise(address, bytes, libc::MADV_HUGEPAGE);
        }
        let blocks = NonNull::new(address.cast()).ok_or_else(std::io::Error::last_os_error)?;
        Ok(Self { blocks, len })
    }

    fn blocks(&mut self) -> &mut [Block] {
        // SAFETY: `len` zero-initialised blocks (all-zero bytes are a valid `Block`), owned by
        // `self` and borrowed mutably through it only.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_ptr(), self.len) }
    }
}

impl Drop for WorkingArea {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, of this size, unmapped once.
        unsafe {
            libc::munmap(self.blocks.as_ptr().cast(), self.len * Block::SIZE);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;
    use tokio::task::JoinSet;

    use super::*;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(HashCost::default(), 2).unwrap()
    }

    fn cheap() -> HashCost {
        HashCost {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn password(raw: &str) -> Password {
        Password::unchecked_for_login(raw.into())
    }

    #[tokio::test]
    async fn hashes_are_argon2id_with_the_owasp_cost() {
        let hash = hasher().hash(password("s3cret-horse")).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let parsed = PasswordHash::new(&hash).unwrap();
        assert_eq!(parsed.salt.unwrap().len(), 16);
        assert_eq!(parsed.hash.unwrap().len(), 32);
    }

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let hasher = hasher();
        let hash = hasher.hash(password("s3cret-horse")).await.unwrap();
        assert!(
            hasher
                .verify(password("s3cret-horse"), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(password("s3cret-horsE"), Some(hash))
                .await
                .unwrap()
        );
    }

    /// The crate's own verifier agrees with the hashes made in the workers' memory, and the
    /// workers verify the crate's hashes.
    #[tokio::test]
    async fn hashes_made_in_worker_memory_are_standard_argon2() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = hasher();
        let ours = hasher.hash(password("s3cret-horse")).await.unwrap();
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19_456, 2, 1, None).unwrap(),
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(reference.verify_password(b"s3cret-horse", &parsed).is_ok());
        let theirs = reference
            .hash_password(b"s3cret-horse")
            .unwrap()
            .to_string();
        assert!(
            hasher
                .verify(password("s3cret-horse"), Some(theirs))
                .await
                .unwrap()
        );
    }

    /// A hash of a higher cost than the workers' memory holds (the cost was lowered since) is
    /// still checked, in memory of its own; a cheaper one fits in the workers'.
    #[tokio::test]
    async fn hashes_of_other_costs_verify() {
        let cheap_hasher = PasswordHasher::new(cheap(), 1).unwrap();
        let costly = hasher().hash(password("s3cret-horse")).await.unwrap();
        let cheaper = cheap_hasher.hash(password("s3cret-horse")).await.unwrap();
        assert!(
            cheap_hasher
                .verify(password("s3cret-horse"), Some(costly))
                .await
                .unwrap()
        );
        assert!(
            hasher()
                .verify(password("s3cret-horse"), Some(cheaper.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher()
                .verify(password("s3cret-horsE"), Some(cheaper))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_need_a_rehash() {
        let hasher = hasher();
        let current = hasher.hash(password("s3cret-horse")).await.unwrap();
        let cheaper = PasswordHasher::new(cheap(), 1)
            .unwrap()
            .hash(password("s3cret-horse"))
            .await
            .unwrap();
        assert!(!hasher.needs_rehash(&current));
        assert!(hasher.needs_rehash(&cheaper));
        assert!(hasher.needs_rehash("pbkdf2_sha256$600000$salt$hash"));
    }

    /// The memory bound of login load: while hashes keep coming, each worker maps its area
    /// about once and reuses it (a flood of 16 hashes maps far fewer than 16 areas); when none
    /// is waiting, every area goes back to the OS.
    #[tokio::test]
    async fn workers_reuse_their_memory_through_a_flood_and_give_it_back() {
        let hasher = Arc::new(PasswordHasher::new(HashCost::default(), 2).unwrap());
        let mut flood = JoinSet::new();
        for n in 0..16 {
            let hasher = hasher.clone();
            flood.spawn(async move { hasher.hash(password(&format!("password {n}"))).await });
        }
        while let Some(hash) = flood.join_next().await {
            hash.unwrap().unwrap();
        }
        let mapped = hasher.areas.mapped.load(Ordering::Relaxed);
        assert!(
            (1..=4).contains(&mapped),
            "16 hashes on 2 workers mapped {mapped} areas"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while hasher.areas.unmapped.load(Ordering::Relaxed) < mapped {
            assert!(Instant::now() < deadline, "an idle worker kept its area");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        hasher.hash(password("after the flood")).await.unwrap();
        assert_eq!(hasher.areas.mapped.load(Ordering::Relaxed), mapped + 1);
    }

    /// Past `MAX_WAITING_HASHES` a request is refused at once, and requests that went away
    /// before their turn are not hashed: the queue they leave drains in about one hash's time.
    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_abandoned_requests_cost_nothing() {
        let hasher = PasswordHasher::new(HashCost::default(), 1).unwrap();
        let mut waiting = Vec::new();
        let mut context = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
        let refused = loop {
            let mut request = Box::pin(hasher.hash(password("queued")));
            match request.poll_unpin(&mut context) {
                std::task::Poll::Pending => waiting.push(request),
                std::task::Poll::Ready(answer) => break answer,
            }
            assert!(
                waiting.len() <= MAX_WAITING_HASHES + 1,
                "the queue has no bound"
            );
        };
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
        assert!(
            waiting.len() >= MAX_WAITING_HASHES,
            "refused after {}",
            waiting.len()
        );
        drop(waiting);
        let started = Instant::now();
        while !hasher.jobs.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(
            started.elapsed() < QUEUE_TIMEOUT,
            "skipping abandoned requests took {:?}",
            started.elapsed()
        );
        hasher.hash(password("after")).await.unwrap();
        assert!(hasher.areas.mapped.load(Ordering::Relaxed) <= 2);
    }

    #[tokio::test]
    async fn unknown_users_and_garbage_hashes_never_verify() {
        let hasher = hasher();
        assert!(!hasher.verify(password("anything"), None).await.unwrap());
        assert!(
            !hasher
                .verify(password("x"), Some("not a hash".into()))
                .await
                .unwrap()
        );
    }
}
