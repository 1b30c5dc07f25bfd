//! Sizes as people write them (`4096`, `64K`, `20G`, `1TiB`), for every option that takes one.

/// Why a size cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No number where one belongs.
    #[error("invalid size {0:?}: expected a number like 4M")]
    Number(String),
    /// A unit other than K, M, G, T (each with an optional `B` or `iB`).
    #[error("invalid size {0:?}: unknown unit {1:?} (use K, M, G or T)")]
    Unit(String, String),
    /// More bytes than 64 bits hold.
    #[error("size {0:?} is too large")]
    TooLarge(String),
}

/// Bytes of `text`: a number of bytes with an optional unit in powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| SizeError::Number(text.to_string()))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        other => return Err(SizeError::Unit(text.to_string(), other.to_string())),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| SizeError::TooLarge(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_powers_of_1024() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size(" 20gb "), Ok(20 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert!(matches!(parse_size("lots"), Err(SizeError::Number(_))));
        assert!(matches!(parse_size("1X"), Err(SizeError::Unit(..))));
        assert!(matches!(
            parse_size("99999999T"),
            Err(SizeError::TooLarge(_))
        ));
    }
}
