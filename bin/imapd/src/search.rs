//! SEARCH and UID SEARCH: the RFC 3501 keys, evaluated per message, reading only
//! what the program needs (nothing, the header, or the whole message).

use crate::mailbox::Mailbox;
use crate::session::Session;
use courier_imap_proto::SearchKey;
use courier_maildir::name::Flag;
use courier_rfc2045 as mime;
use std::os::unix::fs::MetadataExt;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Nothing,
    Stat,
    Header,
    Full,
}

fn need(k: &SearchKey) -> Need {
    use SearchKey::*;
    match k {
        And(v) => v.iter().map(need).max().unwrap_or(Need::Nothing),
        Not(a) => need(a),
        Or(a, b) => need(a).max(need(b)),
        Bcc(_) | Cc(_) | From(_) | To(_) | Subject(_) | Header(..) | SentBefore(_) | SentOn(_)
        | SentSince(_) => Need::Header,
        Body(_) | Text(_) | Larger(_) | Smaller(_) => Need::Full,
        Before(_) | On(_) | Since(_) => Need::Stat,
        _ => Need::Nothing,
    }
}

/// A search program with its sequence sets resolved once.
enum Compiled<'k> {
    And(Vec<Compiled<'k>>),
    Or(Box<Compiled<'k>>, Box<Compiled<'k>>),
    Not(Box<Compiled<'k>>),
    Uid(courier_imap_proto::seqset::Resolved),
    Seq(courier_imap_proto::seqset::Resolved),
    Leaf(&'k SearchKey),
}

fn compile(k: &SearchKey, max_seq: u32, max_uid: u32) -> Compiled<'_> {
    match k {
        SearchKey::And(v) => {
            Compiled::And(v.iter().map(|x| compile(x, max_seq, max_uid)).collect())
        }
        SearchKey::Or(a, b) => Compiled::Or(
            Box::new(compile(a, max_seq, max_uid)),
            Box::new(compile(b, max_seq, max_uid)),
        ),
        SearchKey::Not(a) => Compiled::Not(Box::new(compile(a, max_seq, max_uid))),
        SearchKey::Uid(s) => Compiled::Uid(s.resolve(max_uid)),
        SearchKey::Seq(s) => Compiled::Seq(s.resolve(max_seq)),
        other => Compiled::Leaf(other),
    }
}

fn eval_c(k: &Compiled<'_>, c: &Ctx<'_>) -> bool {
    match k {
        Compiled::And(v) => v.iter().all(|x| eval_c(x, c)),
        Compiled::Or(a, b) => eval_c(a, c) || eval_c(b, c),
        Compiled::Not(a) => !eval_c(a, c),
        Compiled::Uid(r) => r.contains(c.mb.msgs[c.i].uid),
        Compiled::Seq(r) => r.contains(c.seq),
        Compiled::Leaf(k) => eval(k, c),
    }
}

/// What is known about one message while evaluating.
struct Ctx<'a> {
    mb: &'a Mailbox,
    i: usize,
    seq: u32,
    max_seq: u32,
    max_uid: u32,
    mtime: i64,
    header: Option<&'a [u8]>,
    msg: Option<&'a mime::Message<'a>>,
    size: u64,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    mime::search::contains_ci(hay, needle)
}

fn header_has(c: &Ctx<'_>, name: &[u8], needle: &[u8]) -> bool {
    let vals = match (c.msg, c.header) {
        (Some(m), _) => mime::search::header_values_all(m, name),
        (None, Some(h)) => mime::search::header_values(h, name),
        (None, None) => return false,
    };
    if needle.is_empty() {
        return !vals.is_empty();
    }
    vals.iter().any(|v| contains(v, needle))
}

/// Whether a header's Content-Type makes the message multipart or message/*.
fn composite(header: &[u8]) -> bool {
    mime::search::header_values(header, b"Content-Type")
        .first()
        .is_some_and(|v| {
            let v = v.trim_ascii_start();
            let starts = |p: &[u8]| v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p);
            starts(b"multipart/") || starts(b"message/")
        })
}

fn sent_day(c: &Ctx<'_>) -> Option<i64> {
    let h = c.header?;
    let v = mime::search::header_values(h, b"Date").into_iter().next()?;
    let (epoch, tz) = mime::date::parse_rfc2822(&v)?;
    Some((epoch + i64::from(tz)).div_euclid(86400))
}

fn eval(k: &SearchKey, c: &Ctx<'_>) -> bool {
    use SearchKey::*;
    let m = &c.mb.msgs[c.i];
    let flags = || c.mb.flags(c.i);
    let day =
        || (c.mtime + i64::from(courier_privsep::local_utc_offset(c.mtime))).div_euclid(86400);
    match k {
        And(v) => v.iter().all(|x| eval(x, c)),
        All => true,
        Answered => flags().contains(Flag::Replied),
        Unanswered => !flags().contains(Flag::Replied),
        Deleted => flags().contains(Flag::Trashed),
        Undeleted => !flags().contains(Flag::Trashed),
        Draft => flags().contains(Flag::Draft),
        Undraft => !flags().contains(Flag::Draft),
        Flagged => flags().contains(Flag::Flagged),
        Unflagged => !flags().contains(Flag::Flagged),
        Seen => flags().contains(Flag::Seen),
        Unseen => !flags().contains(Flag::Seen),
        Recent => m.recent,
        Old => !m.recent,
        New => m.recent && !flags().contains(Flag::Seen),
        Keyword(kw) => {
            c.mb.keywords(c.i)
                .iter()
                .any(|x| x.eq_ignore_ascii_case(kw))
        }
        Unkeyword(kw) => !c
            .mb
            .keywords(c.i)
            .iter()
            .any(|x| x.eq_ignore_ascii_case(kw)),
        Bcc(s) => header_has(c, b"Bcc", s),
        Cc(s) => header_has(c, b"Cc", s),
        From(s) => header_has(c, b"From", s),
        To(s) => header_has(c, b"To", s),
        Subject(s) => header_has(c, b"Subject", s),
        Header(n, v) => header_has(c, n, v),
        Body(s) => c.msg.is_some_and(|msg| mime::search::body_contains(msg, s)),
        Text(s) => c.msg.is_some_and(|msg| mime::search::text_contains(msg, s)),
        Larger(n) => c.size > *n,
        Smaller(n) => c.size < *n,
        Before(d) => day() < *d,
        On(d) => day() == *d,
        Since(d) => day() >= *d,
        SentBefore(d) => sent_day(c).is_some_and(|x| x < *d),
        SentOn(d) => sent_day(c).is_some_and(|x| x == *d),
        SentSince(d) => sent_day(c).is_some_and(|x| x >= *d),
        Not(a) => !eval(a, c),
        Or(a, b) => eval(a, c) || eval(b, c),
        Uid(set) => set.resolve(c.max_uid).contains(m.uid),
        Seq(set) => set.resolve(c.max_seq).contains(c.seq),
    }
}

/// Converts ISO-8859-1 search strings to UTF-8.
fn latin1_to_utf8(k: &mut SearchKey) {
    use SearchKey::*;
    let conv = |v: &mut Vec<u8>| {
        let s: String = v.iter().map(|&b| b as char).collect();
        *v = s.into_bytes();
    };
    match k {
        And(v) => v.iter_mut().for_each(latin1_to_utf8),
        Not(a) => latin1_to_utf8(a),
        Or(a, b) => {
            latin1_to_utf8(a);
            latin1_to_utf8(b);
        }
        Bcc(s) | Cc(s) | From(s) | To(s) | Subject(s) | Body(s) | Text(s) => conv(s),
        Header(_, v) => conv(v),
        _ => {}
    }
}

/// A SEARCH CHARSET this server does not support.
#[derive(Debug)]
pub struct BadCharset;

/// Applies CHARSET to the program: `Err` when the charset is not supported.
pub fn prepare(charset: Option<&[u8]>, key: &SearchKey) -> Result<SearchKey, BadCharset> {
    let mut key = key.clone();
    if let Some(cs) = charset {
        let l = cs.to_ascii_lowercase();
        match &l[..] {
            b"utf-8" | b"us-ascii" | b"utf8" => {}
            b"iso-8859-1" | b"latin1" | b"iso8859-1" => latin1_to_utf8(&mut key),
            _ => return Err(BadCharset),
        }
    }
    Ok(key)
}

/// The BADCHARSET answer.
pub const BADCHARSET: &str =
    "NO [BADCHARSET (UTF-8 US-ASCII ISO-8859-1)] The requested character set is not supported.";

/// 0-based indexes of the messages matching `key`.
pub fn matching(mb: &mut Mailbox, key: &SearchKey) -> Vec<usize> {
    let n = need(key);
    let max_seq = mb.exists();
    let max_uid = mb.msgs.last().map_or(0, |m| m.uid);
    let mut hits = Vec::new();
    let program = compile(key, max_seq, max_uid);
    for i in 0..mb.msgs.len() {
        let mut mtime = 0;
        let mut data: Option<Vec<u8>> = None;
        // A message too big to hold twice in memory: its header and size only
        // (BODY and TEXT do not match in it).
        let mut big_size = None;
        let mut n = n;
        if n == Need::Full
            && let Ok(meta) = std::fs::metadata(mb.file(i))
            && meta.len() > crate::fetch::PARSE_LIMIT
        {
            big_size = crate::fetch::stream_len(&mb.file(i));
            n = Need::Header;
        }
        if n >= Need::Stat {
            let path = mb.file(i);
            let read = match n {
                Need::Stat => std::fs::symlink_metadata(&path)
                    .map(|m| (Vec::new(), m.mtime()))
                    .ok(),
                _ => read_for_search(&path, n == Need::Header),
            };
            let read = match read {
                Some(r) => Some(r),
                None if mb.refind(i) => read_for_search(&mb.file(i), n == Need::Header),
                None => None,
            };
            let Some((d, t)) = read else { continue };
            mtime = t;
            if n >= Need::Header {
                data = Some(mime::crlf::from_maildir(&d).into_owned());
            }
            // Courier searches the header of every MIME part: a multipart or
            // message/* message is read whole for header searches.
            if n == Need::Header
                && big_size.is_none()
                && data.as_deref().is_some_and(composite)
                && let Some((d, _)) = read_for_search(&mb.file(i), false)
            {
                data = Some(mime::crlf::from_maildir(&d).into_owned());
                n = Need::Full;
            }
        }
        let parsed = if n == Need::Full {
            data.as_deref().map(mime::Message::parse)
        } else {
            None
        };
        let header: Option<&[u8]> = match (&parsed, &data) {
            (Some(m), _) => Some(m.header()),
            (None, Some(d)) => Some(d.as_slice()),
            _ => None,
        };
        let size = big_size.unwrap_or_else(|| data.as_ref().map_or(0, |d| d.len() as u64));
        if n == Need::Full {
            mb.msgs[i].size = u32::try_from(size).unwrap_or(u32::MAX);
        }
        let ctx = Ctx {
            mb,
            i,
            seq: i as u32 + 1,
            max_seq,
            max_uid,
            mtime,
            header,
            msg: parsed.as_ref(),
            size,
        };
        if eval_c(&program, &ctx) {
            hits.push(i);
        }
    }
    hits
}

/// SEARCH / UID SEARCH.
pub fn search(s: &mut Session, tag: &str, uid: bool, charset: Option<Vec<u8>>, key: &SearchKey) {
    let Ok(key) = prepare(charset.as_deref(), key) else {
        s.conn.put(format!("{tag} {BADCHARSET}\r\n"));
        return;
    };
    let Some(mut mb) = s.selected.take() else {
        return;
    };
    let hits = matching(&mut mb, &key);
    let mut out = b"* SEARCH".to_vec();
    for i in hits {
        let h = if uid { mb.msgs[i].uid } else { i as u32 + 1 };
        out.extend_from_slice(format!(" {h}").as_bytes());
    }
    out.extend_from_slice(format!("\r\n{tag} OK SEARCH done.\r\n").as_bytes());
    s.conn.put(out);
    s.selected = Some(mb);
}

fn read_for_search(path: &std::path::Path, header_only: bool) -> Option<(Vec<u8>, i64)> {
    let (data, meta) = crate::fetch::read_file(path, header_only).ok()?;
    Some((data, meta.mtime()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_imap_proto::parse_command;

    fn key(s: &str) -> SearchKey {
        match parse_command(format!("a SEARCH {s}").as_bytes())
            .unwrap()
            .command
        {
            courier_imap_proto::Command::Search { key, .. } => key,
            _ => unreachable!(),
        }
    }

    fn folder() -> (tempfile::TempDir, Mailbox) {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("M");
        for d in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(m.join(d)).unwrap();
        }
        let msgs = [
            (
                "100.M1P1.h:2,S",
                "From: Alice <alice@x>\nSubject: Hello there\nDate: Mon, 2 Mar 2020 10:00:00 +0000\n\nfirst body\n",
            ),
            (
                "200.M1P1.h:2,FT",
                "From: bob@y\nTo: alice@x\nSubject: re: other\n\nsecond\n",
            ),
            (
                "300.M1P1.h:2,",
                "From: carol@z\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\n\nthird body, longer than the others\n",
            ),
        ];
        for (n, body) in msgs {
            std::fs::write(m.join("cur").join(n), body).unwrap();
        }
        let mb = Mailbox::open(&m, "INBOX", false, false, true).unwrap();
        (t, mb)
    }

    fn run(mb: &mut Mailbox, s: &str) -> Vec<usize> {
        matching(mb, &key(s)).into_iter().map(|i| i + 1).collect()
    }

    #[test]
    fn programs_evaluate() {
        let (_t, mut mb) = folder();
        assert_eq!(run(&mut mb, "ALL"), vec![1, 2, 3]);
        assert_eq!(run(&mut mb, "SEEN"), vec![1]);
        assert_eq!(run(&mut mb, "UNSEEN"), vec![2, 3]);
        assert_eq!(run(&mut mb, "DELETED FLAGGED"), vec![2]);
        assert_eq!(run(&mut mb, "NOT DELETED"), vec![1, 3]);
        assert_eq!(run(&mut mb, "OR SEEN DELETED"), vec![1, 2]);
        assert_eq!(run(&mut mb, "FROM alice"), vec![1]);
        assert_eq!(run(&mut mb, "TO ALICE"), vec![2]);
        assert_eq!(run(&mut mb, "SUBJECT hello"), vec![1]);
        assert_eq!(run(&mut mb, "SUBJECT \"grüße\""), vec![3]);
        assert_eq!(run(&mut mb, "HEADER Subject re:"), vec![2]);
        assert_eq!(run(&mut mb, "BODY body"), vec![1, 3]);
        assert_eq!(run(&mut mb, "TEXT carol"), vec![3]);
        assert_eq!(run(&mut mb, "LARGER 80"), vec![1, 3]);
        assert_eq!(run(&mut mb, "SMALLER 80"), vec![2]);
        assert_eq!(run(&mut mb, "SENTON 2-Mar-2020"), vec![1]);
        assert_eq!(run(&mut mb, "SENTBEFORE 1-Jan-2000"), Vec::<usize>::new());
        assert_eq!(run(&mut mb, "SINCE 1-Jan-2000"), vec![1, 2, 3]);
        assert_eq!(run(&mut mb, "2:*"), vec![2, 3]);
        assert_eq!(run(&mut mb, "UID 1,3"), vec![1, 3]);
        assert_eq!(run(&mut mb, "NEW"), vec![2, 3]);
        assert_eq!(
            run(&mut mb, "(SEEN) OR UID 2 SUBJECT \"grüße\""),
            Vec::<usize>::new()
        );
        assert_eq!(run(&mut mb, "NOT (SEEN UID 1)"), vec![2, 3]);
    }

    #[test]
    fn needs_are_minimal() {
        assert!(need(&key("ALL SEEN 1:3 UID 5")) == Need::Nothing);
        assert!(need(&key("SINCE 1-Jan-2020")) == Need::Stat);
        assert!(need(&key("OR FROM a SEEN")) == Need::Header);
        assert!(need(&key("NOT BODY x")) == Need::Full);
    }
}
