//! Rendered list pages, kept while no customer has changed: a list read costs a token check and
//! a map lookup, not a query, 50 rows decoded and a JSON document built.
//!
//! On the embedded SQLite database only, whose writes come through this process's handlers:
//! each drops every page ([`PageCache::changed`], from a guard, so a write whose request was
//! cancelled mid-way drops them too). Another process writing the same file is seen within
//! [`PAGE_LIFETIME`]. With PostgreSQL, other instances write all the time, and the cache is off.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;

use crate::http::Pagination;

/// Pages kept at most, and their bytes at most: the pages a client may ask for are unbounded
/// in number, and one of 100 rows of escaped names may reach 200 KiB. Past either, every page
/// goes.
const MAX_PAGES: usize = 256;
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// How long a page is served: what another process writes to the same SQLite file shows
/// within this.
pub const PAGE_LIFETIME: Duration = Duration::from_secs(1);

struct KeptPage {
    generation: u64,
    rendered_at: Instant,
    body: Bytes,
}

#[derive(Default)]
pub struct PageCache {
    /// Moves on at every write: a page rendered from an older one is never served.
    generation: AtomicU64,
    pages: Mutex<Pages>,
}

#[derive(Default)]
struct Pages {
    by_page: HashMap<(u64, u64), KeptPage>,
    bytes: usize,
}

impl PageCache {
    /// Taken before the rows are read, and given back to [`Self::keep`] with their page: a write
    /// between the two leaves the page unserved.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, pagination: &Pagination) -> Option<Bytes> {
        let pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        let kept = pages
            .by_page
            .get(&(pagination.page, pagination.page_size))?;
        (kept.generation == self.generation() && kept.rendered_at.elapsed() < PAGE_LIFETIME)
            .then(|| kept.body.clone())
    }

    pub fn keep(&self, pagination: &Pagination, generation: u64, body: Bytes) {
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        if pages.by_page.len() >= MAX_PAGES || pages.bytes + body.len() > MAX_BYTES {
            pages.by_page.clear();
            pages.bytes = 0;
        }
        pages.bytes += body.len();
        let kept = KeptPage {
            generation,
            rendered_at: Instant::now(),
            body,
        };
        if let Some(replaced) = pages
            .by_page
            .insert((pagination.page, pagination.page_size), kept)
        {
            pages.bytes -= replaced.body.len();
        }
    }

    /// A customer was created, changed or deleted (or may have been): every page is stale.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        pages.by_page.clear();
        pages.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.pages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_page
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(page: u64) -> Pagination {
        Pagination {
            page,
            page_size: 50,
        }
    }

    #[test]
    fn a_page_rendered_before_a_write_is_never_served_after_it() {
        let cache = PageCache::default();
        let before = cache.generation();
        cache.changed();
        cache.keep(&page(1), before, Bytes::from_static(b"old"));
        assert_eq!(cache.get(&page(1)), None);
        let now = cache.generation();
        cache.keep(&page(1), now, Bytes::from_static(b"new"));
        assert_eq!(cache.get(&page(1)), Some(Bytes::from_static(b"new")));
        cache.changed();
        assert_eq!(cache.get(&page(1)), None);
    }

    #[test]
    fn the_pages_kept_are_bounded_in_number_and_bytes() {
        let cache = PageCache::default();
        for n in 1..=10_000 {
            cache.keep(&page(n), cache.generation(), Bytes::from_static(b"{}"));
            assert!(cache.len() <= MAX_PAGES);
        }
        let big = Bytes::from(vec![b' '; 200 * 1024]);
        for n in 1..=200 {
            cache.keep(&page(n), cache.generation(), big.clone());
            let bytes = cache.pages.lock().unwrap().bytes;
            assert!(bytes <= MAX_BYTES, "{bytes} bytes kept");
        }
    }

    #[test]
    fn a_page_is_served_for_its_lifetime_only() {
        let cache = PageCache::default();
        cache.keep(&page(1), cache.generation(), Bytes::from_static(b"{}"));
        assert!(cache.get(&page(1)).is_some());
        cache
            .pages
            .lock()
            .unwrap()
            .by_page
            .get_mut(&(1, 50))
            .unwrap()
            .rendered_at -= PAGE_LIFETIME;
        assert_eq!(cache.get(&page(1)), None);
    }
}
