use super::FieldError;

/// A customer's name: 1-255 characters, surrounding blanks trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerName(String);

impl CustomerName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        match trimmed.chars().count() {
            0 => Err(FieldError::new("name", "This field may not be blank.")),
            1..=255 => Ok(Self(trimmed.to_owned())),
            _ => Err(FieldError::new(
                "name",
                "Ensure this field has no more than 255 characters.",
            )),
        }
    }
}

/// A phone number: 7 to 15 digits (E.164's maximum), optionally after one leading `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mobile(String);

impl Mobile {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
        if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(FieldError::new(
                "mobile",
                "Enter a valid mobile number: 7 to 15 digits, optionally starting with +.",
            ))
        }
    }
}

/// The kind of customer, as the client's own vocabulary has it (`retail`, `wholesale`, ...):
/// 1-64 letters, digits, spaces, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerType(String);

impl CustomerType {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        let length = trimmed.chars().count();
        if length == 0 {
            return Err(FieldError::new(
                "customer_type",
                "This field may not be blank.",
            ));
        }
        if length <= 64
            && trimmed
                .chars()
                .all(|c| c.is_alphanumeric() || " -_".contains(c))
        {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(FieldError::new(
                "customer_type",
                "Enter a valid customer type: up to 64 letters, digits, spaces, - or _.",
            ))
        }
    }
}

macro_rules! as_str {
    ($($type:ident),*) => {
        $(impl AsRef<str> for $type {
            fn as_ref(&self) -> &str {
                &self.0
            }
        })*
    };
}
as_str!(CustomerName, Mobile, CustomerType);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_takes_7_to_15_digits_and_one_leading_plus() {
        for ok in ["9876543", "+919876543210", "123456789012345"] {
            assert!(Mobile::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "123456",
            "1234567890123456",
            "++9876543",
            "98765-43210",
            "98765 43210",
            "+",
            "abcdefgh",
        ] {
            assert!(Mobile::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn name_is_trimmed_and_bounded() {
        assert_eq!(
            CustomerName::parse("  Asha Traders ").unwrap().as_ref(),
            "Asha Traders"
        );
        assert!(CustomerName::parse("   ").is_err());
        assert!(CustomerName::parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn customer_type_is_a_short_word() {
        assert!(CustomerType::parse("wholesale").is_ok());
        assert!(CustomerType::parse("small business").is_ok());
        assert!(CustomerType::parse("").is_err());
        assert!(CustomerType::parse("<script>").is_err());
    }
}
