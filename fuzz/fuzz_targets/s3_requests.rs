//! The parts of S3 request handling the gateway writes itself, on arbitrary input: key
//! mapping, listing cursors and tokens, listings against S3's semantics, multipart part lists
//! and ETags, the credentials file, Host headers, version directory names, ACL grant headers, bucket policies, CORS patterns and the browser-upload form
//! read ahead. Nothing may panic; a listing must match the model.
#![no_main]

use datenlord_gateway::list::{Cursor, MemTree, Query, list, model};
use datenlord_gateway::acl::{Acl, GrantHeaders};
use datenlord_gateway::front::form;
use datenlord_gateway::{Credentials, cors, host, key, multipart, policy, versions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(path) = key::parse(&text) {
        let joined = path.segments.join(&b'/');
        let mut back = joined.clone();
        if path.directory {
            back.push(b'/');
        }
        assert_eq!(back, text.as_bytes(), "a key maps to its own path");
    }
    let _ = key::is_bucket_name(data);
    if let Some(cursor) = Cursor::from_token(&text) {
        assert_eq!(Cursor::from_token(&cursor.to_token()), Some(cursor));
    }
    let _ = Credentials::parse(&text, "fuzz");
    let dir = versions::key_dir_name(&text);
    assert!(!dir.contains(&b'/') && dir.len() <= 255, "a key's version directory is one name");
    if let Some(key) = versions::key_of_dir_name(&dir) {
        assert_eq!(key, text, "a version directory names its key");
    }
    let _ = versions::is_version_id(&text);
    if let Ok(domains) = host::Domains::new(&["s3.test".to_string(), text.to_string()]) {
        if let Some(bucket) = domains.bucket(&text) {
            assert!(text.contains(bucket));
        }
    }
    let parts: Vec<(i32, String)> = data
        .chunks(3)
        .map(|c| (i32::from(c[0]) - 8, String::from_utf8_lossy(&c[1..]).into_owned()))
        .collect();
    let _ = multipart::check_part_list(&parts);
    let _ = multipart::multipart_etag(&parts.iter().map(|p| p.1.clone()).collect::<Vec<_>>());
    let headers = GrantHeaders {
        read: Some(&text),
        write_acp: Some(&text),
        ..GrantHeaders::default()
    };
    if let Ok(Some(acl)) = Acl::requested(None, headers, "owner", "owner", |_| true) {
        assert!(acl.allows(Some("owner"), datenlord_gateway::acl::Permission::FullControl));
    }
    let rule = cors::CorsRule {
        id: None,
        origins: vec![text.to_string()],
        methods: vec!["GET".into()],
        headers: vec![text.to_string()],
        expose: Vec::new(),
        max_age: None,
    };
    if let Ok(policy) = policy::Policy::load(&text) {
        let request = policy::Request {
            principal: Some(text.to_string()),
            action: "s3:GetObject".into(),
            resource: policy::arn("b", Some(&text)),
            context: [("aws:sourceip".to_string(), vec![text.to_string()])].into(),
        };
        let _ = policy.evaluate(&request);
    }
    let half = text.char_indices().map(|(i, _)| i).nth(text.chars().count() / 2);
    let (pattern, value) = text.split_at(half.unwrap_or(text.len()));
    let _ = policy::glob(pattern, value);
    let _ = cors::preflight(std::slice::from_ref(&rule), &text, "GET", &[&text]);
    if let Some((boundary, body)) = data.split_first() {
        let boundary = &body[..usize::from(*boundary % 8).min(body.len())];
        let _ = form::reached_file(body, boundary);
        let _ = form::field(body, boundary, "acl");
        if let Some(named) = form::with_file_name(body, boundary) {
            assert!(form::reached_file(&named, boundary));
        }
    }
    listing(data);
});

/// A tree from the input (names over a small alphabet, so prefixes and delimiters meet), paged
/// through with every page compared to the model.
fn listing(data: &[u8]) {
    let Some((&control, paths)) = data.split_first() else {
        return;
    };
    const ALPHABET: &[u8] = b"a-./0b";
    let mut tree = MemTree::new();
    for raw in paths.split(|&b| b == 0xff).take(64) {
        let mut at = Some(0);
        let segments: Vec<&[u8]> = raw.split(|&b| b == 0xfe).filter(|s| !s.is_empty()).collect();
        for (i, segment) in segments.iter().enumerate() {
            let name: Vec<u8> = segment
                .iter()
                .take(4)
                .map(|b| ALPHABET[*b as usize % (ALPHABET.len() - 1)])
                .map(|b| if b == b'/' { b'b' } else { b })
                .collect();
            let dir = i + 1 < segments.len() || segment[0] & 0x80 != 0;
            at = at.and_then(|a| tree.add(a, &name, dir));
        }
        if let (Some(at), Some(last)) = (at, segments.last())
            && last[0] & 0x40 != 0
            && at != u64::MAX
        {
            tree.marked[at as usize] = true;
        }
    }
    let prefixes: [&[u8]; 4] = [b"", b"a", b"a/", b"a-"];
    let delimiters: [Option<&[u8]>; 4] = [None, Some(b"/"), Some(b"-"), Some(b"a/")];
    let mut query = Query {
        prefix: prefixes[usize::from(control & 3)],
        delimiter: delimiters[usize::from(control >> 2 & 3)],
        after: Cursor::default(),
        max: usize::from(control >> 4) % 5 + 1,
    };
    let all = tree.keys();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for _ in 0..200 {
        let got = runtime.block_on(list(&tree, 0, &query)).unwrap();
        let want = model(&all, &query);
        assert_eq!(got.prefixes, want.prefixes);
        let keys = |p: &datenlord_gateway::list::Page| -> Vec<Vec<u8>> {
            p.keys.iter().map(|l| l.key.clone()).collect()
        };
        assert_eq!(keys(&got), keys(&want));
        assert_eq!(got.next, want.next);
        match got.next {
            Some(next) => query.after = next,
            None => break,
        }
    }
}
