use crate::error::ApiError;

const DEFAULT_PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;

/// DRF's `PageNumberPagination`: `?page=` from 1 and `?page_size=` (20 by default, at most
/// 100); a page past the last is a 404, and `next`/`previous` are absolute links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub page: u64,
    pub page_size: u64,
}

impl Pagination {
    pub fn new(page: Option<u64>, page_size: Option<u64>) -> Result<Self, ApiError> {
        let page = page.unwrap_or(1);
        if page == 0 {
            return Err(ApiError::NotFound);
        }
        Ok(Self {
            page,
            page_size: page_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
        })
    }

    /// Zero-based page index for sea-orm's paginator, or 404 past the last page (an empty
    /// collection still has its page 1).
    pub fn index(&self, count: u64) -> Result<u64, ApiError> {
        if self.page > self.pages(count) {
            return Err(ApiError::NotFound);
        }
        Ok(self.page - 1)
    }

    /// Rows before this page; `None` when no database could skip that many (no such page).
    pub fn offset(&self) -> Option<u64> {
        (self.page - 1)
            .checked_mul(self.page_size)
            .filter(|&offset| i64::try_from(offset).is_ok())
    }

    /// `(next, previous)` links under `base` (an absolute URL without query).
    pub fn links(&self, count: u64, base: &str) -> (Option<String>, Option<String>) {
        let link = |page: u64| format!("{base}?page={page}&page_size={}", self.page_size);
        (
            (self.page < self.pages(count)).then(|| link(self.page + 1)),
            (self.page > 1).then(|| link(self.page - 1)),
        )
    }

    fn pages(&self, count: u64) -> u64 {
        count.div_ceil(self.page_size).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_point_to_the_neighbouring_pages() {
        let second = Pagination::new(Some(2), Some(2)).unwrap();
        assert_eq!(
            second.links(5, "http://x/items/"),
            (
                Some("http://x/items/?page=3&page_size=2".into()),
                Some("http://x/items/?page=1&page_size=2".into())
            )
        );
        assert_eq!(
            Pagination::new(Some(3), Some(2)).unwrap().links(5, "b").0,
            None
        );
    }

    #[test]
    fn pages_past_the_last_and_page_zero_are_not_found() {
        assert!(Pagination::new(Some(0), None).is_err());
        assert!(
            Pagination::new(Some(2), Some(20))
                .unwrap()
                .index(20)
                .is_err()
        );
        assert_eq!(Pagination::new(None, None).unwrap().index(0).unwrap(), 0);
        assert_eq!(Pagination::new(None, Some(1000)).unwrap().page_size, 100);
    }
}
