//! Paging of ListVolumes and ListSnapshots: a token names the last id of the page before.

use std::collections::BTreeMap;

use tonic::Status;

/// of ours is told from anything else.
pub(super) fn encode_token(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The id a token names; ABORTED (the spec's answer, after which the CO lists again from the
/// start) for a token of no listing of ours.
pub(super) fn decode_token(token: &str) -> Result<Option<String>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let aborted = || Status::aborted(format!("starting_token {token:?} is not one of ours"));
    if !token.len().is_multiple_of(2) {
        return Err(aborted());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(token.get(i..i + 2).ok_or_else(aborted)?, 16).map_err(|_| aborted())
        })
        .collect::<Result<Vec<u8>, Status>>()?;
    String::from_utf8(bytes).map(Some).map_err(|_| aborted())
}

/// One page of `ids` (sorted) after `token`, at most `max_entries` (0: all), and the token of
/// the next page.
pub(super) fn page<T>(
    entries: BTreeMap<String, T>,
    max_entries: i32,
    token: &str,
) -> Result<(Vec<(String, T)>, String), Status> {
    let max = usize::try_from(max_entries)
        .map_err(|_| Status::invalid_argument("max_entries cannot be negative"))?;
    let after = decode_token(token)?;
    let mut rest = entries
        .into_iter()
        .filter(|(id, _)| after.as_ref().is_none_or(|after| id > after));
    let mut out = Vec::new();
    for entry in rest.by_ref() {
        out.push(entry);
        if max != 0 && out.len() == max {
            break;
        }
    }
    let next = match (rest.next(), out.last()) {
        (Some(_), Some((last, _))) => encode_token(last),
        _ => String::new(),
    };
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_abort() {
        let token = encode_token("pvc-1é");
        assert_eq!(decode_token(&token).unwrap().as_deref(), Some("pvc-1é"));
        assert_eq!(decode_token("").unwrap(), None);
        for bad in ["invalid-token", "abc", "zz", "ff"] {
            assert_eq!(
                decode_token(bad).unwrap_err().code(),
                tonic::Code::Aborted,
                "{bad}"
            );
        }
    }

    #[test]
    fn pages_follow_the_token_and_end_without_one() {
        let ids: BTreeMap<String, ()> = ["a", "b", "c"]
            .iter()
            .map(|s| (s.to_string(), ()))
            .collect();
        let (first, token) = page(ids.clone(), 2, "").unwrap();
        assert_eq!(first.len(), 2);
        let (rest, end) = page(ids.clone(), 2, &token).unwrap();
        assert_eq!(
            rest.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
        assert!(end.is_empty());
        let (all, none) = page(ids, 0, "").unwrap();
        assert_eq!((all.len(), none.as_str()), (3, ""));
    }
}
