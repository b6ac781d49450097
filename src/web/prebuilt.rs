//! Bodies made once and served many times: plain, and gzip-compressed once
//! too, so a busy page costs neither rendering nor compressing per request.
//!
//! A page with a form cannot be one constant body: its CSRF field is masked
//! afresh for every response (BREACH, see `csrf`). [`Holed`] keeps such a
//! page as the part before the field's value and the part after it, and
//! deflates it once as one stream with NUL bytes standing in the hole, each
//! flushed to a byte boundary. A response swaps the stand-in's deflated
//! bytes for its own value as a stored (uncompressed) block of the same
//! length and combines the checksum from the parts'. The value being as long
//! as the stand-in, every distance in the stream still points at the same
//! bytes, and none points into the hole: a match there would need a NUL after
//! it, which the part after the hole is checked not to have.

use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// A body made once and served many times, plain or gzip-compressed (made on
/// first use, then kept too).
#[derive(Debug, Clone)]
pub struct Rendered(Arc<(Bytes, OnceLock<Bytes>)>);

impl Rendered {
    /// A rendered body.
    pub fn new(plain: Bytes) -> Self {
        Self(Arc::new((plain, Default::default())))
    }
    /// As rendered.
    pub fn plain(&self) -> Bytes {
        self.0.0.clone()
    }
    /// Gzip-compressed.
    pub fn gzip(&self) -> Bytes {
        self.0.1.get_or_init(|| gzip(&self.0.0)).clone()
    }
    /// An answer of `content_type`, gzipped if the client takes it.
    pub fn respond(&self, headers: &HeaderMap, content_type: &'static str) -> Response {
        answer(headers, content_type, || self.plain(), || self.gzip())
    }
}

/// A body made once (`plain`, and `gzip` compressed once too), as the client
/// takes it; the compression layer leaves an encoded body alone.
fn answer(
    headers: &HeaderMap,
    content_type: &'static str,
    plain: impl FnOnce() -> Bytes,
    gzip: impl FnOnce() -> Bytes,
) -> Response {
    let vary = (header::VARY, "accept-encoding");
    if crate::web::routes::accepts_gzip(headers) {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_ENCODING, "gzip"),
                vary,
            ],
            gzip(),
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type), vary], plain()).into_response()
    }
}

/// `data` gzip-compressed, in memory (where writing cannot fail).
pub fn gzip(data: &[u8]) -> Bytes {
    use std::io::Write;
    let mut z =
        flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::default());
    let _ = z.write_all(data);
    Bytes::from(z.finish().unwrap_or_default())
}

/// A page made once with one hole, filled per response (module docs).
#[derive(Debug)]
pub struct Holed {
    /// The page before the hole (all of it, if it has none).
    before: Bytes,
    /// After the hole; `None` if the page has no hole.
    after: Option<Bytes>,
    /// How long the fill always is (a fill of another length, or a page
    /// with a NUL byte after the hole, is compressed whole instead).
    fill_len: usize,
    /// The page deflated around the hole, with the parts' checksums (`None`
    /// where that would not be sound).
    deflated: Option<Deflated>,
    /// A page without a hole: its whole gzip answer, made once.
    whole: Option<Bytes>,
}

#[derive(Debug)]
struct Deflated {
    /// Before the hole (flushed), after it (to the stream's end).
    parts: [Bytes; 2],
    crcs: [Crc; 2],
}

/// The gzip header: deflate, no name or time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

impl Holed {
    /// `page` with a hole where `hole` first occurs (none if it does not),
    /// to be filled with values `fill_len` bytes long; deflated now, as
    /// nearly every answer is gzipped.
    pub fn new(page: String, hole: &str, fill_len: usize) -> Self {
        let page = Bytes::from(page);
        let (before, after) = match find(&page, hole.as_bytes()) {
            Some(at) => (page.slice(..at), Some(page.slice(at + hole.len()..))),
            None => (page, None),
        };
        let deflated = deflate(&before, after.as_ref().map(|b| (fill_len, &b[..])));
        let mut page = Self {
            before,
            after,
            fill_len,
            deflated,
            whole: None,
        };
        if !page.has_hole() {
            page.whole = Some(page.gzip(""));
        }
        page
    }

    /// Whether the page has a hole to fill.
    pub fn has_hole(&self) -> bool {
        self.after.is_some()
    }

    /// Bytes kept (what a cache of these weighs).
    pub fn weight(&self) -> usize {
        self.before.len()
            + self.after.as_ref().map_or(0, Bytes::len)
            + self
                .deflated
                .as_ref()
                .map_or(0, |d| d.parts.iter().map(Bytes::len).sum())
            + self.whole.as_ref().map_or(0, Bytes::len)
    }

    /// The page with `fill` in its hole.
    pub fn plain(&self, fill: &str) -> Bytes {
        let Some(after) = &self.after else {
            return self.before.clone();
        };
        let mut out = BytesMut::with_capacity(self.before.len() + fill.len() + after.len());
        out.put_slice(&self.before);
        out.put_slice(fill.as_bytes());
        out.put_slice(after);
        out.freeze()
    }

    /// [`Holed::plain`] as one gzip member, without compressing the page
    /// again.
    pub fn gzip(&self, fill: &str) -> Bytes {
        if let Some(whole) = &self.whole {
            return whole.clone();
        }
        let holed = self.has_hole();
        let fill = if holed { fill } else { "" };
        let Some(d) = self
            .deflated
            .as_ref()
            .filter(|_| fill.len() == self.fill_len || !holed)
        else {
            return gzip(&self.plain(fill));
        };
        let mut crc = Crc::new();
        crc.combine(&d.crcs[0]);
        let mut fill_crc = Crc::new();
        fill_crc.update(fill.as_bytes());
        crc.combine(&fill_crc);
        crc.combine(&d.crcs[1]);
        let mut out = BytesMut::with_capacity(
            GZIP_HEADER.len() + d.parts[0].len() + 5 + fill.len() + d.parts[1].len() + 8,
        );
        out.put_slice(&GZIP_HEADER);
        out.put_slice(&d.parts[0]);
        if holed {
            // A stored block that is not the last: BFINAL 0, BTYPE 00, then
            // (byte-aligned) its length and the length's complement.
            let len = u16::try_from(fill.len()).unwrap_or(u16::MAX);
            out.put_u8(0);
            out.put_u16_le(len);
            out.put_u16_le(!len);
            out.put_slice(fill.as_bytes());
        }
        out.put_slice(&d.parts[1]);
        out.put_u32_le(crc.sum());
        out.put_u32_le(crc.amount());
        out.freeze()
    }

    /// An HTML answer with `fill` in the hole, gzipped if the client takes it.
    pub fn respond(&self, headers: &HeaderMap, fill: &str) -> Response {
        answer(
            headers,
            "text/html; charset=utf-8",
            || self.plain(fill),
            || self.gzip(fill),
        )
    }
}

/// `before`, then (if the page has a hole) a stand-in of `fill_len` NUL bytes
/// and `after`, deflated as one stream with the parts flushed apart (module
/// docs); `None` where that would not be sound.
fn deflate(before: &[u8], hole: Option<(usize, &[u8])>) -> Option<Deflated> {
    if let Some((fill_len, after)) = hole
        && (after.contains(&0) || fill_len > usize::from(u16::MAX))
    {
        return None;
    }
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(before.len() / 3 + 64);
    feed(&mut c, before, &mut out, FlushCompress::Sync)?;
    let first = Bytes::from(std::mem::take(&mut out));
    let after = match hole {
        Some((fill_len, after)) => {
            feed(&mut c, &vec![0; fill_len], &mut out, FlushCompress::Sync)?;
            out.clear();
            after
        }
        None => &[],
    };
    feed(&mut c, after, &mut out, FlushCompress::Finish)?;
    let crc = |data: &[u8]| {
        let mut c = Crc::new();
        c.update(data);
        c
    };
    Some(Deflated {
        parts: [first, Bytes::from(out)],
        crcs: [crc(before), crc(after)],
    })
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Feeds all of `data` to `c`, appending its output to `out`, and ends with
/// `flush` (`Sync`: everything so far out, on a byte boundary; `Finish`: the
/// stream's last block). `None` if the compressor refused.
fn feed(c: &mut Compress, data: &[u8], out: &mut Vec<u8>, flush: FlushCompress) -> Option<()> {
    let start = c.total_in();
    loop {
        let done = usize::try_from(c.total_in() - start).ok()?;
        let status = c.compress_vec(data.get(done..)?, out, flush).ok()?;
        let all_in = c.total_in() - start == data.len() as u64;
        match status {
            Status::StreamEnd => return Some(()),
            // A sync flush is complete once all input is in and the output
            // had room to spare.
            _ if all_in
                && out.len() < out.capacity()
                && !matches!(flush, FlushCompress::Finish) =>
            {
                return Some(());
            }
            _ => out.reserve(out.capacity().max(64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(b: &[u8]) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(b)
            .read_to_string(&mut s)
            .expect("a valid gzip member with the right checksum");
        s
    }

    #[test]
    fn a_holed_page_decodes_to_the_page_with_each_fill() {
        let big: String = (0..20_000).map(|i| format!("<p>row {i}</p>")).collect();
        let long = "y".repeat(70_000);
        for (page, fill) in [
            (
                format!("<html>{big}<input value=\"@@\"><b>after</b>{big}</html>"),
                "0123abcd",
            ),
            ("@@".to_string(), "x"),
            ("a@@".to_string(), "tail"),
            ("a@@".to_string(), ""),
            ("@@b".to_string(), long.as_str()),
            ("no hole at all".to_string(), "ignored"),
            // A NUL after the hole: compressed whole, per response.
            ("a@@b\0c".to_string(), "q"),
            (String::new(), "ignored"),
        ] {
            let h = Holed::new(page.clone(), "@@", fill.len());
            let want = if page.contains("@@") {
                page.replacen("@@", fill, 1)
            } else {
                page.clone()
            };
            assert_eq!(h.plain(fill), want.as_bytes());
            assert_eq!(gunzip(&h.gzip(fill)), want, "page of {} bytes", page.len());
            // Kept parts are reused: a second fill decodes as well, and
            // one of another length is compressed whole.
            let other = "z".repeat(fill.len());
            assert_eq!(gunzip(&h.gzip(&other)), h.plain(&other));
            assert_eq!(gunzip(&h.gzip("zz")), h.plain("zz"));
        }
    }

    #[test]
    fn the_parts_are_compressed_and_only_the_first_hole_is_one() {
        let page = format!("{}@@{}@@", "a".repeat(50_000), "b".repeat(50_000));
        let h = Holed::new(page, "@@", 10);
        let z = h.gzip("0123456789");
        assert!(z.len() < 2_000, "{} bytes", z.len());
        assert!(gunzip(&z).ends_with("b@@"));
        assert!(h.weight() > 100_000 && h.weight() < 102_100);
    }

    #[test]
    fn what_follows_the_hole_refers_back_to_what_precedes_it() {
        // Text of about 20 KB that compresses to a few KB, twice: the second
        // copy costs a few bytes only if it can point at the first.
        let text: String = (0..2_000u32)
            .map(|i| format!("{} ", i.wrapping_mul(2_654_435_761) % 9_973))
            .collect();
        let alone = gzip(text.as_bytes()).len();
        let h = Holed::new(format!("{text}@@{text}"), "@@", 64);
        let z = h.gzip(&"f".repeat(64));
        assert!(
            z.len() < alone + 200,
            "{} bytes; the text alone {alone}",
            z.len()
        );
        assert_eq!(gunzip(&z), format!("{text}{}{text}", "f".repeat(64)));
    }

    proptest::proptest! {
        /// Any page (few letters, so matches everywhere, NUL bytes too)
        /// decodes to itself with any fill of the length it was made for.
        #[test]
        fn any_page_and_fill_decode_to_the_filled_page(
            before in "[ab<>\\x00]{0,3000}",
            after in "[ab<>x]{0,3000}|[ab\\x00]{0,50}",
            fill in "[abx]{16}",
        ) {
            let h = Holed::new(format!("{before}@@{after}"), "@@", 16);
            let want = format!("{before}{fill}{after}");
            proptest::prop_assert_eq!(gunzip(&h.gzip(&fill)), want.clone());
            proptest::prop_assert_eq!(h.plain(&fill), want.as_bytes());
        }
    }
}
