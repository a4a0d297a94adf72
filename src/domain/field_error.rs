use std::collections::BTreeMap;

/// One rule one input field broke, worded for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }

    pub fn required(field: &'static str) -> Self {
        Self::new(field, "This field is required.")
    }

    /// `value`, unless it is missing or empty: DRF calls both "required".
    pub fn require(value: Option<String>, field: &'static str) -> Result<String, Self> {
        value
            .filter(|value| !value.is_empty())
            .ok_or_else(|| Self::required(field))
    }
}

/// Every field error of one request, reported together in one 400 (as DRF does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn push(&mut self, error: FieldError) {
        self.0
            .entry(error.field.to_owned())
            .or_default()
            .push(error.message);
    }

    /// Takes in every error of `other`.
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    /// Keeps the value, or records its error and returns `None`.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_map(self) -> BTreeMap<String, Vec<String>> {
        self.0
    }
}

impl From<FieldError> for FieldErrors {
    fn from(error: FieldError) -> Self {
        let mut errors = Self::default();
        errors.push(error);
        errors
    }
}
