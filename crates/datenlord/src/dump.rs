//! `datenlord dump` and `datenlord load`: a volume's whole metadata as one JSON-lines
//! document — a header, one line per key, a trailer with the count and a CRC-32C of every key
//! and value — written from one snapshot, and loaded into an empty engine of any kind.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use crc_fast::{CrcAlgorithm, Digest};
use datenlord_meta::{MetaError, hex};

use crate::cli::{DumpArgs, LoadArgs};
use crate::home;
use crate::progress::Progress;

/// The format of the document; a reader refuses other versions.
const FORMAT: u32 = 1;

/// The checksum of a document: every key and value with its length, in order.
fn add(digest: &mut Digest, key: &[u8], value: &[u8]) {
    for part in [key, value] {
        digest.update(&(part.len() as u32).to_be_bytes());
        digest.update(part);
    }
}

pub fn dump(args: DumpArgs) -> Result<ExitCode> {
    home::runtime()?.block_on(async {
        let meta = home::open_meta(args.meta.meta.as_deref()).await?;
        let out: Box<dyn Write> = match args.file.as_str() {
            "-" => Box::new(std::io::stdout().lock()),
            path => {
                Box::new(std::fs::File::create(path).with_context(|| format!("creating {path}"))?)
            }
        };
        let mut out = BufWriter::new(out);
        let volume = meta.volume();
        let header = serde_json::json!({
            "datenlord_dump": FORMAT,
            "volume": volume.name,
            "uuid": volume.uuid,
            "created": datenlord_meta::Timespec::now().sec,
        });
        writeln!(out, "{header}")?;
        let mut digest = Digest::new(CrcAlgorithm::Crc32Iscsi);
        let progress = Progress::start_count("dumping metadata records");
        let mut done = 0;
        let pairs = meta
            .dump(|key, value| {
                add(&mut digest, key, value);
                let line = serde_json::json!({"k": hex::encode(key), "v": hex::encode(value)});
                writeln!(out, "{line}").map_err(|e| MetaError::Refused(e.to_string()))?;
                done += 1;
                if done % 1024 == 0 {
                    progress.set_items(done);
                }
                Ok(())
            })
            .await
            .context("reading the volume's metadata")?;
        progress.set_items(pairs);
        let trailer = serde_json::json!({
            "end": true,
            "pairs": pairs,
            "crc32c": format!("{:08x}", digest.finalize()),
        });
        writeln!(out, "{trailer}")?;
        out.flush().context("writing the dump")?;
        progress.finish();
        if args.file != "-" {
            eprintln!(
                "dumped volume {} ({pairs} records) to {}",
                volume.name, args.file
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn load(args: LoadArgs) -> Result<ExitCode> {
    let file = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file))?;
    let mut lines = BufReader::new(file).lines().enumerate();
    let header: serde_json::Value = match lines.next() {
        Some((_, line)) => serde_json::from_str(&line?)
            .with_context(|| format!("{} is not a DatenLord dump", args.file))?,
        None => bail!("{} is empty", args.file),
    };
    match header["datenlord_dump"].as_u64() {
        Some(v) if v == u64::from(FORMAT) => {}
        Some(v) => bail!(
            "{} is a dump of format {v}; this release reads {FORMAT}",
            args.file
        ),
        None => bail!("{} is not a DatenLord dump", args.file),
    }
    home::runtime()?.block_on(async {
        let url: datenlord_meta::MetaUrl = args.meta.parse()?;
        let kv = url.open(true).await?;
        let read = std::cell::RefCell::new(Read {
            digest: Digest::new(CrcAlgorithm::Crc32Iscsi),
            trailer: None,
            count: 0,
        });
        let progress = Progress::start_count("loading metadata records");
        let pairs = std::iter::from_fn(|| {
            let mut read = read.borrow_mut();
            let (number, line) = lines.next()?;
            let parsed = line
                .map_err(|e| e.to_string())
                .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).map_err(|e| e.to_string()));
            let record = match parsed {
                Ok(record) => record,
                Err(err) => return Some(Err(bad(number, &err))),
            };
            if record["end"].as_bool() == Some(true) {
                read.trailer = Some(record);
                return None;
            }
            let decoded = record["k"]
                .as_str()
                .and_then(hex::decode)
                .zip(record["v"].as_str().and_then(hex::decode));
            let Some((key, value)) = decoded else {
                return Some(Err(bad(number, "not a key and value in hex")));
            };
            add(&mut read.digest, &key, &value);
            read.count += 1;
            if read.count.is_multiple_of(1024) {
                progress.set_items(read.count);
            }
            Some(Ok((key, value)))
        });
        let loaded = datenlord_meta::dump::load(&kv, pairs, || {
            let read = read.borrow();
            let count = read.count;
            let Some(trailer) = &read.trailer else {
                return Err(MetaError::Refused(
                    "the dump ends early (no trailer): it is truncated".into(),
                ));
            };
            let want = trailer["crc32c"].as_str().unwrap_or_default();
            let got = format!("{:08x}", read.digest.finalize());
            if trailer["pairs"].as_u64() != Some(count) || want != got {
                return Err(MetaError::Refused(format!(
                    "the dump is damaged: {count} records with checksum {got}, the trailer says {} with {want}",
                    trailer["pairs"]
                )));
            }
            Ok(())
        })
        .await;
        progress.finish();
        match loaded {
            Ok(n) => {
                println!(
                    "loaded volume {} ({n} records) into {url}",
                    header["volume"].as_str().unwrap_or("?")
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(MetaError::Refused(why)) if why.contains("not empty") => bail!("{url}: {why}"),
            Err(err) => Err(err).with_context(|| {
                format!("loading {} into {url} (what was written has no volume record: empty it before trying again)", args.file)
            }),
        }
    })
}

/// What loading has read of a dump.
struct Read {
    digest: Digest,
    trailer: Option<serde_json::Value>,
    count: u64,
}

fn bad(number: usize, why: &str) -> MetaError {
    MetaError::Refused(format!("line {} of the dump: {why}", number + 1))
}
