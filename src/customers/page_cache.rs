//! Rendered list pages, kept while no customer has changed: a list read costs a token check and
//! a map lookup, not a query, 50 rows decoded and a JSON document built.
//!
//! Only when this process is the only writer (the embedded SQLite database): every write goes
//! through its handlers, which call [`PageCache::changed`]. With PostgreSQL, other instances
//! write too, and the cache is off.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;

use crate::http::Pagination;

/// Pages kept at most: the page numbers a client may ask for are unbounded, their bytes are
/// not (up to 100 rows, about 30 KiB, a page).
const MAX_PAGES: usize = 256;

#[derive(Default)]
pub struct PageCache {
    /// Moves on at every write: a page rendered from an older one is never served.
    generation: AtomicU64,
    pages: Mutex<HashMap<(u64, u64), (u64, Bytes)>>,
}

impl PageCache {
    /// Taken before the rows are read, and given back to [`Self::keep`] with their page: a write
    /// between the two leaves the page unserved.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, pagination: &Pagination) -> Option<Bytes> {
        let pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        let (generation, body) = pages.get(&(pagination.page, pagination.page_size))?;
        (*generation == self.generation()).then(|| body.clone())
    }

    pub fn keep(&self, pagination: &Pagination, generation: u64, body: Bytes) {
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        if pages.len() >= MAX_PAGES {
            pages.clear();
        }
        pages.insert((pagination.page, pagination.page_size), (generation, body));
    }

    /// A customer was created, changed or deleted (or may have been): every page is stale.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.pages.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn len(&self) -> usize {
        self.pages.lock().unwrap_or_else(|p| p.into_inner()).len()
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
    fn the_pages_kept_are_bounded() {
        let cache = PageCache::default();
        for n in 1..=10_000 {
            cache.keep(&page(n), cache.generation(), Bytes::from_static(b"{}"));
            assert!(cache.len() <= MAX_PAGES);
        }
    }
}
