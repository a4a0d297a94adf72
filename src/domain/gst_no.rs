use super::FieldError;

/// A GST registration number. The seeds' clients send placeholders such as `gst12345`, so this
/// checks shape only (1-32 letters and digits) rather than the 15-character GSTIN checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GstNo(String);

impl GstNo {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(FieldError::new("gst_no", "This field may not be blank."));
        }
        if raw.len() > 32 || !raw.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(FieldError::new(
                "gst_no",
                "Enter a valid GST number: up to 32 letters and digits.",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl AsRef<str> for GstNo {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_seed_placeholder_and_a_real_gstin() {
        assert!(GstNo::parse("gst12345").is_ok());
        assert!(GstNo::parse("27AAPFU0939F1ZV").is_ok());
    }

    #[test]
    fn rejects_blank_punctuation_and_overlong() {
        for bad in ["", "  ", "gst-1", "a b", &"9".repeat(33)] {
            assert!(GstNo::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
