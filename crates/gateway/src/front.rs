//! The HTTP front of the S3 service: what happens to a request before `s3s` reads it and to its
//! answer after. Browsers' CORS preflights (`OPTIONS`) are answered here from the bucket's
//! rules, and answers to a page of an allowed origin get the CORS headers; a SigV2 bucket
//! request is read with the path its signature covers; and the `${filename}` in a browser
//! upload's key becomes the name of the uploaded file.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::StreamBody;
use hyper::body::{Frame, Incoming};
use hyper::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, HeaderValue, ORIGIN,
    TRANSFER_ENCODING,
};
use hyper::{Method, Request};
use s3s::service::S3Service;
use s3s::{Body, HttpError, HttpRequest, HttpResponse, S3Error, S3ErrorCode, s3_error};

use crate::access::Peer;
use crate::cors;
use crate::host::Domains;
use crate::namespace::{Namespace, http_status};

/// The most of a browser upload's form read ahead to find the file's name: its fields (which
/// come before the file) are bounded by `s3s` at 20 MiB.
const FORM_AHEAD: usize = 21 << 20;

/// The S3 service with its HTTP front.
#[derive(Clone, Debug)]
pub struct Front {
    s3: S3Service,
    ns: Namespace,
    domains: Domains,
    peer: Option<Peer>,
}

impl Front {
    /// `s3` over `ns`, with virtual-hosted buckets below `domains`.
    pub fn new(s3: S3Service, ns: Namespace, domains: Domains) -> Self {
        Self {
            s3,
            ns,
            domains,
            peer: None,
        }
    }

    /// The service for one connection, from `peer`.
    pub fn for_peer(&self, peer: Peer) -> Self {
        Self {
            peer: Some(peer),
            ..self.clone()
        }
    }

    async fn handle(self, mut req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let virtual_bucket = header(req.headers(), HOST.as_str())
            .and_then(|host| self.domains.bucket(host))
            .map(str::to_owned);
        let bucket = virtual_bucket
            .clone()
            .or_else(|| bucket_of(req.uri().path()).map(str::to_owned));
        if req.method() == Method::OPTIONS {
            return Ok(self.preflight(bucket.as_deref(), req.headers()).await);
        }
        let origin = header(req.headers(), ORIGIN.as_str()).map(str::to_owned);
        // A page may name the method it asks for, as in a preflight.
        let method = header(req.headers(), "access-control-request-method")
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            .unwrap_or_else(|| req.method().clone());
        if virtual_bucket.is_none() {
            sign_v2_bucket_path(&mut req);
        }
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(peer);
        }
        let has_body = req.headers().contains_key(TRANSFER_ENCODING)
            || header(req.headers(), CONTENT_LENGTH.as_str()).is_some_and(|n| n != "0");
        let form_upload = is_form_upload(&req, bucket.is_some());
        let attributes = req.method() == Method::GET
            && req.uri().query().is_some_and(|q| {
                q.split('&')
                    .any(|p| p == "attributes" || p.starts_with("attributes="))
            });
        if form_upload {
            req = name_the_file(req).await;
        }
        let mut resp = self.s3.call(req).await?;
        if form_upload {
            resp = form_answer(resp);
        }
        if attributes {
            resp = bare_etag(resp);
        }
        // An error may come before the body was read (a key in the way, a bad signature): the
        // rest of the body is still on the connection, so the client must not send another
        // request on it.
        if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let (Some(origin), Some(bucket)) = (origin, bucket) {
            self.decorate(&bucket, &origin, &method, resp.headers_mut())
                .await;
        }
        Ok(resp)
    }

    async fn preflight(&self, bucket: Option<&str>, headers: &HeaderMap) -> HttpResponse {
        match self.try_preflight(bucket, headers).await {
            Ok(allowed) => {
                let mut resp = HttpResponse::new(Body::empty());
                insert(resp.headers_mut(), allowed);
                resp
            }
            Err(err) => err
                .to_http_response()
                .unwrap_or_else(|_| HttpResponse::new(Body::empty())),
        }
    }

    async fn try_preflight(
        &self,
        bucket: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<cors::Headers, S3Error> {
        let (Some(origin), Some(method)) = (
            header(headers, ORIGIN.as_str()),
            header(headers, "access-control-request-method"),
        ) else {
            return Err(s3_error!(
                InvalidRequest,
                "Insufficient information. Origin request header needed."
            ));
        };
        let Some(bucket) = bucket else {
            return Err(forbidden("CORS is not enabled for the service's root"));
        };
        let Some(state) = self.ns.bucket_state(bucket).await? else {
            return Err(s3_error!(NoSuchBucket));
        };
        if state.config.cors.is_empty() {
            return Err(forbidden("CORS is not enabled for this bucket."));
        }
        let asked: Vec<&str> = header(headers, "access-control-request-headers")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        cors::preflight(&state.config.cors, origin, method, &asked).ok_or_else(|| {
            forbidden(
                "This CORS request is not allowed. This is usually because the evaluation of \
                 Origin, request method / Access-Control-Request-Method or \
                 Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            )
        })
    }

    async fn decorate(&self, bucket: &str, origin: &str, method: &Method, headers: &mut HeaderMap) {
        let Ok(Some(state)) = self.ns.bucket_state(bucket).await else {
            return;
        };
        if let Some(allowed) = cors::actual(&state.config.cors, origin, method.as_str()) {
            insert(headers, allowed);
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for Front {
    type Response = HttpResponse;
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        Box::pin(self.clone().handle(req.map(Body::from)))
    }
}

/// A browser upload's answer as S3 gives it: a failed policy condition is AccessDenied (s3s
/// says InvalidPolicyDocument), and the ETag in a redirect is quoted.
fn form_answer(mut resp: HttpResponse) -> HttpResponse {
    if resp.status() == hyper::StatusCode::BAD_REQUEST
        && let Some(body) = resp.body().bytes()
        && let Ok(text) = std::str::from_utf8(&body)
        && text.contains("<Code>InvalidPolicyDocument</Code>")
        && text.contains("Policy condition")
    {
        let message = text
            .split_once("<Message>")
            .and_then(|(_, rest)| rest.split_once("</Message>"))
            .map_or("", |(m, _)| m);
        let err = S3Error::with_message(
            S3ErrorCode::AccessDenied,
            format!("Invalid according to Policy: {message}"),
        );
        if let Ok(denied) = err.to_http_response() {
            return denied;
        }
    }
    if resp.status() == hyper::StatusCode::SEE_OTHER
        && let Some(location) = header(resp.headers(), "location")
        && let Ok(mut url) = url::Url::parse(location)
    {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "etag" && !v.starts_with('"') {
                    format!("\"{v}\"")
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        if let Ok(value) = HeaderValue::from_str(url.as_str()) {
            resp.headers_mut().insert("location", value);
        }
    }
    resp
}

/// GetObjectAttributes gives its ETag without quotes, unlike every other answer (s3s quotes
/// it).
fn bare_etag(mut resp: HttpResponse) -> HttpResponse {
    let Some(body) = resp.body().bytes() else {
        return resp;
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return resp;
    };
    let Some((head, rest)) = text.split_once("<ETag>") else {
        return resp;
    };
    let Some((etag, tail)) = rest.split_once("</ETag>") else {
        return resp;
    };
    let bare = etag
        .trim_matches('"')
        .trim_start_matches("&quot;")
        .trim_end_matches("&quot;");
    let fixed = format!("{head}<ETag>{bare}</ETag>{tail}");
    if let Some(length) = resp.headers_mut().get_mut(CONTENT_LENGTH)
        && let Ok(value) = HeaderValue::from_str(&fixed.len().to_string())
    {
        *length = value;
    }
    *resp.body_mut() = Body::from(fixed);
    resp
}

fn forbidden(message: &'static str) -> S3Error {
    let mut err = S3Error::with_message(S3ErrorCode::Custom("CORSResponse".into()), message);
    err.set_status_code(http_status(403));
    err
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn insert(headers: &mut HeaderMap, values: cors::Headers) {
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// The bucket of a path-style request path.
fn bucket_of(path: &str) -> Option<&str> {
    let bucket = path.trim_start_matches('/').split('/').next()?;
    (!bucket.is_empty()).then_some(bucket)
}

/// SigV2 clients (botocore, boto, s3cmd) sign a bucket's resource as `/bucket/` even when they
/// send `/bucket`: read such a request as the path they signed.
fn sign_v2_bucket_path(req: &mut HttpRequest) {
    let v2 = header(req.headers(), AUTHORIZATION.as_str())
        .is_some_and(|auth| auth.starts_with("AWS ") && !auth.starts_with("AWS4-"));
    let path = req.uri().path();
    if !v2 || path.len() < 2 || path[1..].contains('/') {
        return;
    }
    let with_slash = match req.uri().query() {
        Some(query) => format!("{path}/?{query}"),
        None => format!("{path}/"),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = with_slash.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = hyper::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

fn is_form_upload(req: &HttpRequest, has_bucket: bool) -> bool {
    req.method() == Method::POST
        && has_bucket
        && header(req.headers(), CONTENT_TYPE.as_str())
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// The boundary of a `multipart/form-data` content type.
fn boundary_of(content_type: &str) -> Option<&str> {
    content_type.split(';').find_map(|param| {
        let (name, value) = param.trim().split_once('=')?;
        name.eq_ignore_ascii_case("boundary")
            .then(|| value.trim_matches('"'))
    })
}

/// Reads a browser upload's form up to its file and puts the file's name for `${filename}` in
/// the key field; the request goes on unchanged when there is nothing to put.
async fn name_the_file(req: HttpRequest) -> HttpRequest {
    let Some(boundary) = header(req.headers(), CONTENT_TYPE.as_str())
        .and_then(boundary_of)
        .map(|b| b.as_bytes().to_vec())
    else {
        return req;
    };
    let (mut parts, mut body) = req.into_parts();
    let mut ahead = Vec::new();
    let mut failed = None;
    while ahead.len() < FORM_AHEAD && !form::reached_file(&ahead, &boundary) {
        match body.next().await {
            Some(Ok(chunk)) => ahead.extend_from_slice(&chunk),
            Some(Err(err)) => {
                failed = Some(err);
                break;
            }
            None => break,
        }
    }
    let read = ahead.len();
    parts.extensions.insert(FormFields {
        acl: form::field(&ahead, &boundary, "acl"),
        tagging: form::field(&ahead, &boundary, "tagging"),
    });
    let prefix = form::with_file_name(&ahead, &boundary).unwrap_or(ahead);
    if prefix.len() != read
        && let Some(length) =
            header(&parts.headers, CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<usize>().ok())
        && let Ok(value) = HeaderValue::from_str(&(length + prefix.len() - read).to_string())
    {
        parts.headers.insert(CONTENT_LENGTH, value);
    }
    let head = futures::stream::once(futures::future::ready(match failed {
        None => Ok(Bytes::from(prefix)),
        Some(err) => Err(err),
    }));
    let stream = head.chain(body).map(|chunk| chunk.map(Frame::data));
    HttpRequest::from_parts(parts, Body::http_body(StreamBody::new(stream)))
}

/// Fields of a browser upload's form that `s3s` does not read (it knows `x-amz-acl` and
/// `x-amz-tagging` only), for the upload to apply.
#[derive(Debug, Clone, Default)]
pub struct FormFields {
    /// `acl`: a canned ACL.
    pub acl: Option<String>,
    /// `tagging`: a `Tagging` XML document.
    pub tagging: Option<String>,
}

/// The fields of a `multipart/form-data` body, read as far as it has come.
pub mod form {
    /// One part: where its headers and its value are.
    #[derive(Debug)]
    struct Part {
        headers: std::ops::Range<usize>,
        /// Up to the end of what was read when the part goes on beyond it.
        value: std::ops::Range<usize>,
    }

    fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        if needle.is_empty() || from > hay.len() {
            return None;
        }
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|at| at + from)
    }

    /// The parts whose headers were read whole.
    fn parts(body: &[u8], boundary: &[u8]) -> Vec<Part> {
        let delimiter = [b"--".as_slice(), boundary].concat();
        let mut out = Vec::new();
        let Some(mut at) = find(body, &delimiter, 0) else {
            return out;
        };
        loop {
            let headers_start = at + delimiter.len() + 2;
            if body.get(at + delimiter.len()..headers_start) != Some(b"\r\n".as_slice()) {
                return out;
            }
            let Some(headers_end) = find(body, b"\r\n\r\n", headers_start) else {
                return out;
            };
            let value_start = headers_end + 4;
            let next = [b"\r\n".as_slice(), &delimiter].concat();
            match find(body, &next, value_start) {
                Some(end) => {
                    out.push(Part {
                        headers: headers_start..headers_end,
                        value: value_start..end,
                    });
                    at = end + 2;
                }
                None => {
                    out.push(Part {
                        headers: headers_start..headers_end,
                        value: value_start..body.len(),
                    });
                    return out;
                }
            }
        }
    }

    /// A parameter (`name`, `filename`) of a part's Content-Disposition.
    fn disposition<'a>(headers: &'a [u8], param: &str) -> Option<&'a str> {
        let headers = std::str::from_utf8(headers).ok()?;
        let line = headers.split("\r\n").find(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("content-disposition"))
        })?;
        line.split_once(':')?.1.split(';').find_map(|p| {
            let (name, value) = p.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case(param)
                .then(|| value.trim().trim_matches('"'))
        })
    }

    fn is_field(part: &Part, body: &[u8], name: &str) -> bool {
        disposition(&body[part.headers.clone()], "name")
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }

    /// Whether the headers of the file part were read.
    pub fn reached_file(body: &[u8], boundary: &[u8]) -> bool {
        parts(body, boundary)
            .iter()
            .any(|p| is_field(p, body, "file"))
    }

    /// The value of field `name`, when it comes whole before the file.
    pub fn field(body: &[u8], boundary: &[u8], name: &str) -> Option<String> {
        let parts = parts(body, boundary);
        let file = parts.iter().find(|p| is_field(p, body, "file"))?;
        let part = parts
            .iter()
            .find(|p| is_field(p, body, name) && p.value.end <= file.headers.start)?;
        String::from_utf8(body[part.value.clone()].to_vec()).ok()
    }

    /// The form with `${filename}` in its `key` field replaced by the file part's file name;
    /// `None` when there is no such key or no file name.
    pub fn with_file_name(body: &[u8], boundary: &[u8]) -> Option<Vec<u8>> {
        let parts = parts(body, boundary);
        let file = parts.iter().find(|p| is_field(p, body, "file"))?;
        let name = disposition(&body[file.headers.clone()], "filename")?;
        let key = parts
            .iter()
            .find(|p| is_field(p, body, "key") && p.value.end <= file.headers.start)?;
        let value = std::str::from_utf8(&body[key.value.clone()]).ok()?;
        if !value.contains("${filename}") {
            return None;
        }
        let replaced = value.replace("${filename}", name);
        Some(
            [
                &body[..key.value.start],
                replaced.as_bytes(),
                &body[key.value.end..],
            ]
            .concat(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &[u8] =
        b"--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nup/${filename}\r\n\
--XX\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\neyJ9\r\n\
--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.jpg\"\r\n\
Content-Type: image/jpeg\r\n\r\nJPEG";

    #[test]
    fn the_key_gets_the_files_name() {
        assert!(form::reached_file(FORM, b"XX"));
        assert!(!form::reached_file(&FORM[..60], b"XX"));
        let named = form::with_file_name(FORM, b"XX").unwrap();
        let text = String::from_utf8(named).unwrap();
        assert!(text.contains("\r\n\r\nup/a b.jpg\r\n--XX"), "{text}");
        assert!(text.ends_with("JPEG"));
        assert_eq!(form::with_file_name(&FORM[..60], b"XX"), None);
        assert_eq!(form::with_file_name(FORM, b"YY"), None);
    }

    #[test]
    fn content_types_give_their_boundary() {
        assert_eq!(
            boundary_of("multipart/form-data; boundary=----abc"),
            Some("----abc")
        );
        assert_eq!(
            boundary_of("multipart/form-data; boundary=\"q\""),
            Some("q")
        );
        assert_eq!(boundary_of("multipart/form-data"), None);
    }

    #[test]
    fn buckets_are_the_first_segment() {
        assert_eq!(bucket_of("/b/k/x"), Some("b"));
        assert_eq!(bucket_of("/b"), Some("b"));
        assert_eq!(bucket_of("/"), None);
    }
}
