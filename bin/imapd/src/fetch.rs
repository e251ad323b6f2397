//! FETCH, STORE, COPY/MOVE and the APPEND writer.

use crate::config::Config;
use crate::mailbox::Mailbox;
use crate::session::{GENERIC_NO, Session};
use courier_imap_proto::seqset::format_ranges;
use courier_imap_proto::{FetchAtt, SectionText, SeqSet, StoreMode};
use courier_maildir::delivery::{MESSAGE_MODE, TmpFile};
use courier_maildir::keywords::{KeywordStore, Options as KwOptions, WriteMode};
use courier_maildir::name::{Flag, Flags};
use courier_rfc2045 as mime;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Keyword store options for this configuration.
pub fn kw_options(cfg: &Config) -> KwOptions {
    if cfg.keywords_staged {
        KwOptions::IMAP.with_write_mode(WriteMode::Staged)
    } else {
        KwOptions::IMAP
    }
}

/// Splits an IMAP flag list into maildir flags and keywords.
pub fn split_flags(flags: &[Vec<u8>]) -> (Flags, Vec<Vec<u8>>) {
    let mut f = Flags::new();
    let mut kw = Vec::new();
    for x in flags {
        if x.first() == Some(&b'\\') {
            let l = x.to_ascii_lowercase();
            match &l[..] {
                b"\\seen" => f.set(Flag::Seen, true),
                b"\\answered" => f.set(Flag::Replied, true),
                b"\\flagged" => f.set(Flag::Flagged, true),
                b"\\deleted" => f.set(Flag::Trashed, true),
                b"\\draft" => f.set(Flag::Draft, true),
                _ => {}
            }
        } else if !kw.iter().any(|k: &Vec<u8>| k.eq_ignore_ascii_case(x)) {
            kw.push(x.clone());
        }
    }
    (f, kw)
}

/// Opens a message file without following symlinks.
fn open_msg(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

/// Reads a message file without following a symlink: the whole file, or with
/// `header_only` its header up to the empty line (at most about 1 MB). Returns the
/// bytes and the file's metadata.
pub(crate) fn read_file(
    path: &Path,
    header_only: bool,
) -> std::io::Result<(Vec<u8>, std::fs::Metadata)> {
    let mut f = open_msg(path)?;
    let meta = f.metadata()?;
    let mut data = Vec::new();
    if header_only {
        let mut chunk = vec![0u8; 8192];
        loop {
            match f.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    data.extend_from_slice(&chunk[..n]);
                    if mime::crlf::header_end(&data).is_some() || data.len() > 1 << 20 {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = mime::crlf::header_end(&data) {
            data.truncate(e);
        }
    } else {
        f.read_to_end(&mut data)?;
    }
    Ok((data, meta))
}

/// Reads message `i`, finding it again if another session renamed it.
fn read_msg(mb: &mut Mailbox, i: usize, header_only: bool) -> Option<(Vec<u8>, i64)> {
    for attempt in 0..2 {
        match read_file(&mb.file(i), header_only) {
            Ok((data, meta)) => return Some((data, meta.mtime())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt == 0 => {
                if !mb.refind(i) {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    None
}

/// The 0-based indexes a set names; `bad` receives the first invalid sequence number.
pub fn indexes(
    mb: &Mailbox,
    set: &SeqSet,
    uid: bool,
    bad: &mut Option<u32>,
) -> Result<Vec<usize>, SetError> {
    let mut out = Vec::new();
    let mut seen = if set.ranges.len() > 1 {
        vec![false; mb.msgs.len()]
    } else {
        Vec::new()
    };
    let mut push = |i: usize, out: &mut Vec<usize>| {
        if seen.is_empty() {
            out.push(i);
        } else if !seen[i] {
            seen[i] = true;
            out.push(i);
        }
    };
    let star = |v: u64, max: u32| -> u32 {
        if v == courier_imap_proto::seqset::STAR {
            max
        } else {
            // The parser keeps numbers within u32.
            u32::try_from(v).unwrap_or(u32::MAX)
        }
    };
    // Ranges are answered in the order the client wrote them, as Courier does.
    if uid {
        let max = mb.msgs.last().map_or(0, |m| m.uid);
        for &(a, b) in &set.ranges {
            let (a, b) = (star(a, max), star(b, max));
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            let start = mb.msgs.partition_point(|m| m.uid < a);
            for (i, m) in mb.msgs.iter().enumerate().skip(start) {
                if m.uid > b {
                    break;
                }
                push(i, &mut out);
            }
        }
    } else {
        let n = mb.exists();
        if set
            .ranges
            .iter()
            .any(|&(a, b)| a != b && (a == 0 || b == 0))
        {
            return Err(SetError);
        }
        if set.ranges.iter().any(|&(a, _)| a == 0) {
            *bad = Some(0);
        }
        if n == 0 && set.has_star() {
            // `1:*` on an empty mailbox names nothing, silently (as Courier does).
            return Ok(out);
        }
        for &(a, b) in &set.ranges {
            let (a, b) = (star(a, n), star(b, n));
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            if a == 0 {
                continue;
            }
            if b > n && bad.is_none() {
                *bad = Some(a.max(n + 1));
            }
            for s in a..=b.min(n) {
                push(s as usize - 1, &mut out);
            }
        }
    }
    Ok(out)
}

/// A sequence set that is a syntax error (`1:0`).
#[derive(Debug)]
pub struct SetError;

fn section_spec(s: &courier_imap_proto::Section, out: &mut Vec<u8>) {
    let mut parts: Vec<String> = s.part.iter().map(u32::to_string).collect();
    match &s.text {
        None => {}
        Some(SectionText::Header) => parts.push("HEADER".into()),
        Some(SectionText::Text) => parts.push("TEXT".into()),
        Some(SectionText::Mime) => parts.push("MIME".into()),
        Some(SectionText::HeaderFields(v)) | Some(SectionText::HeaderFieldsNot(v)) => {
            let word = if matches!(s.text, Some(SectionText::HeaderFields(_))) {
                "HEADER.FIELDS"
            } else {
                "HEADER.FIELDS.NOT"
            };
            let mut t = format!("{word} (").into_bytes();
            for (k, name) in v.iter().enumerate() {
                if k > 0 {
                    t.push(b' ');
                }
                courier_imap_proto::response::write_string(&mut t, name);
            }
            t.push(b')');
            parts.push(String::from_utf8_lossy(&t).into_owned());
        }
    }
    out.extend_from_slice(parts.join(".").as_bytes());
}

/// Bytes as stored in the maildir file (LF line ends), for the LOGOUT counters.
fn raw_len(d: &[u8]) -> u64 {
    (d.len() - d.windows(2).filter(|w| w == b"\r\n").count()) as u64
}

/// Header field bytes without line ends, as Courier counts HEADER.FIELDS.
fn field_len(d: &[u8]) -> u64 {
    (d.len() - 2 * d.windows(2).filter(|w| w == b"\r\n").count()) as u64
}

fn literal(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
}

/// FETCH and UID FETCH.
pub fn fetch(s: &mut Session, tag: &str, uid: bool, set: &SeqSet, atts: &[FetchAtt]) {
    let Some(mut mb) = s.selected.take() else {
        return;
    };
    let mut bad = None;
    let Ok(idx) = indexes(&mb, set, uid, &mut bad) else {
        s.conn.put(format!("{tag} {GENERIC_NO}\r\n"));
        s.selected = Some(mb);
        return;
    };
    let mut atts = atts.to_vec();
    if uid && !atts.contains(&FetchAtt::Uid) {
        atts.insert(0, FetchAtt::Uid);
    }
    let needs_full = atts.iter().any(|a| {
        matches!(
            a,
            FetchAtt::Body
                | FetchAtt::BodyStructure
                | FetchAtt::Rfc822
                | FetchAtt::Rfc822Text
                | FetchAtt::Section { .. }
        )
    });
    let needs_header = atts
        .iter()
        .any(|a| matches!(a, FetchAtt::Envelope | FetchAtt::Rfc822Header));
    let needs_size = atts.contains(&FetchAtt::Rfc822Size);
    let needs_date = atts.contains(&FetchAtt::InternalDate);
    let sets_seen = !mb.read_only
        && atts.iter().any(|a| {
            matches!(
                a,
                FetchAtt::Rfc822 | FetchAtt::Rfc822Text | FetchAtt::Section { peek: false, .. }
            )
        });
    if needs_size && idx.iter().any(|&i| mb.msgs[i].size == 0) {
        mb.load_sizes();
    }
    // ENVELOPE of many messages from the folder's cache (see envcache).
    let env_only = needs_header && !needs_full && !atts.contains(&FetchAtt::Rfc822Header);
    let mut env_cache = (env_only && idx.len() >= 64).then(|| crate::envcache::load(&mb.path));
    let mut env_dirty = 0usize;
    let mut env_bytes: u64 = env_cache.as_ref().map_or(0, |c| {
        c.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum()
    });
    let mut out = std::mem::take(&mut s.conn.out);
    if let Some(n) = bad {
        out.extend_from_slice(format!("* NO Invalid message sequence number: {n}\r\n").as_bytes());
    }
    for i in idx {
        let seq = i + 1;
        let cached_env: Option<Vec<u8>> =
            env_cache.as_ref().and_then(|c| c.get(mb.base(i)).cloned());
        // Only a message that must be read can need the streaming path: a known
        // size is answered from the table without touching the file.
        if (needs_full || (needs_size && mb.msgs[i].size == 0))
            && big_fetch(s, &mut mb, i, &atts, &mut out)
        {
            continue;
        }
        // Load what the items need.
        let mut full: Option<Vec<u8>> = None;
        let mut header: Option<Vec<u8>> = None;
        let mut mtime = 0i64;
        let size_known = mb.msgs[i].size != 0;
        if needs_full || (needs_size && !size_known) {
            match read_msg(&mut mb, i, false) {
                Some((d, t)) => {
                    if mb.msgs[i].size == 0 {
                        mb.sizes_dirty += 1;
                    }
                    mb.msgs[i].size =
                        u32::try_from(mime::crlf::from_maildir_len(&d)).unwrap_or(u32::MAX);
                    if needs_full {
                        full = Some(mime::crlf::from_maildir(&d).into_owned());
                    } else if needs_header {
                        let end = mime::crlf::header_end(&d).unwrap_or(d.len());
                        header = Some(mime::crlf::from_maildir(&d[..end]).into_owned());
                    }
                    mtime = t;
                }
                None => {
                    out.extend_from_slice(format!("* NO Cannot open message {seq}\r\n").as_bytes());
                    continue;
                }
            }
        } else if needs_header && cached_env.is_none() {
            match read_msg(&mut mb, i, true) {
                Some((d, t)) => {
                    header = Some(mime::crlf::from_maildir(&d).into_owned());
                    mtime = t;
                }
                None => {
                    out.extend_from_slice(format!("* NO Cannot open message {seq}\r\n").as_bytes());
                    continue;
                }
            }
        } else if needs_date {
            match std::fs::symlink_metadata(mb.file(i)) {
                Ok(m) => mtime = m.mtime(),
                Err(_) => {
                    if mb.refind(i) {
                        mtime = std::fs::symlink_metadata(mb.file(i))
                            .map(|m| m.mtime())
                            .unwrap_or(0);
                    }
                }
            }
        }
        let msg = full.as_deref().map(mime::Message::parse);
        out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
        let mut first = true;
        for a in &atts {
            if !first {
                out.push(b' ');
            }
            first = false;
            match a {
                FetchAtt::Uid => {
                    out.extend_from_slice(format!("UID {}", mb.msgs[i].uid).as_bytes())
                }
                FetchAtt::Flags => {
                    out.extend_from_slice(b"FLAGS ");
                    mb.write_flags(i, &mut out);
                }
                FetchAtt::InternalDate => {
                    out.extend_from_slice(b"INTERNALDATE \"");
                    out.extend_from_slice(
                        mime::date::format_date_time(
                            mtime,
                            courier_privsep::local_utc_offset(mtime),
                        )
                        .as_bytes(),
                    );
                    out.push(b'"');
                }
                FetchAtt::Rfc822Size => {
                    out.extend_from_slice(format!("RFC822.SIZE {}", mb.msgs[i].size).as_bytes())
                }
                FetchAtt::Envelope => {
                    out.extend_from_slice(b"ENVELOPE ");
                    let env = match (&cached_env, &msg, &header) {
                        (Some(e), _, _) => e.clone(),
                        (None, Some(m), _) => m.envelope(),
                        (None, None, Some(h)) if mime::crlf::header_end(h).is_some() => {
                            mime::envelope_from_header(h)
                        }
                        // No empty line in the file: Courier leaves an unterminated
                        // last line out, which Message reproduces.
                        (None, None, Some(h)) => mime::Message::parse(h).envelope(),
                        _ => b"NIL".to_vec(),
                    };
                    out.extend_from_slice(&env);
                    if cached_env.is_none()
                        && header.is_some()
                        && env_bytes < crate::envcache::MAX_FILE
                        && let Some(c) = env_cache.as_mut()
                    {
                        env_bytes += (mb.base(i).len() + env.len()) as u64;
                        c.insert(mb.base(i).to_string(), env);
                        env_dirty += 1;
                    }
                }
                FetchAtt::Body | FetchAtt::BodyStructure => {
                    let ext = matches!(a, FetchAtt::BodyStructure);
                    out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                    if let Some(m) = &msg {
                        out.extend_from_slice(&m.body_structure(ext));
                    }
                }
                FetchAtt::Rfc822 => {
                    out.extend_from_slice(b"RFC822 ");
                    let d = msg.as_ref().map_or(&b""[..], |m| m.bytes());
                    s.body_bytes += raw_len(d);
                    literal(&mut out, d);
                }
                FetchAtt::Rfc822Header => {
                    out.extend_from_slice(b"RFC822.HEADER ");
                    let d: &[u8] = match (&msg, &header) {
                        (Some(m), _) => m.header(),
                        (None, Some(h)) => h,
                        _ => b"",
                    };
                    s.header_bytes += raw_len(d);
                    literal(&mut out, d);
                }
                FetchAtt::Rfc822Text => {
                    out.extend_from_slice(b"RFC822.TEXT ");
                    let d = msg.as_ref().map_or(&b""[..], |m| m.text());
                    s.body_bytes += raw_len(d);
                    literal(&mut out, d);
                }
                FetchAtt::Section {
                    section, partial, ..
                } => {
                    out.extend_from_slice(b"BODY[");
                    section_spec(section, &mut out);
                    out.push(b']');
                    let data = msg.as_ref().and_then(|m| m.section(section));
                    let d: &[u8] = data.as_deref().unwrap_or(b"");
                    let d = match partial {
                        Some((off, len)) => {
                            out.extend_from_slice(format!("<{off}> ").as_bytes());
                            let o = (*off as usize).min(d.len());
                            let e = o.saturating_add(*len as usize).min(d.len());
                            &d[o..e]
                        }
                        None => {
                            out.push(b' ');
                            d
                        }
                    };
                    // Courier's LOGOUT counters: header fields (without their
                    // line ends) as headers, everything else in file bytes as body.
                    if matches!(
                        section.text,
                        Some(
                            SectionText::HeaderFields(_)
                                | SectionText::HeaderFieldsNot(_)
                                | SectionText::Mime
                        )
                    ) {
                        s.header_bytes += field_len(d);
                    } else {
                        s.body_bytes += raw_len(d);
                    }
                    literal(&mut out, d);
                }
            }
        }
        out.extend_from_slice(b")\r\n");
        // The implicit \Seen is set after the data and reported in a FETCH
        // response of its own, as Courier does (RFC 3501 6.4.5 allows either form).
        let mut flags_changed = false;
        if sets_seen {
            let mut f = mb.flags(i);
            if !f.contains(Flag::Seen) {
                f.set(Flag::Seen, true);
                flags_changed = mb.set_flags(i, &f);
            }
        }
        if flags_changed {
            out.extend_from_slice(format!("* {seq} FETCH (FLAGS ").as_bytes());
            mb.write_flags(i, &mut out);
            out.extend_from_slice(b")\r\n");
        }
        // Keep the output buffer bounded on huge fetches.
        if out.len() > 256 * 1024 {
            s.conn.out = out;
            s.conn.flush();
            out = std::mem::take(&mut s.conn.out);
        }
    }
    if needs_size {
        mb.save_sizes();
    }
    if env_dirty > 0
        && let Some(c) = &env_cache
    {
        crate::envcache::save(&mb.path, c, mb.bases());
    }
    out.extend_from_slice(format!("{tag} OK FETCH completed.\r\n").as_bytes());
    s.conn.out = out;
    s.selected = Some(mb);
}

/// STORE and UID STORE.
pub fn store(
    s: &mut Session,
    tag: &str,
    uid: bool,
    set: &SeqSet,
    mode: StoreMode,
    silent: bool,
    flags: &[Vec<u8>],
) {
    let Some(mut mb) = s.selected.take() else {
        return;
    };
    let parsed = check_flags(flags, mb.keywords_enabled);
    let Some((sys, kws)) = parsed else {
        s.conn.put(format!("{tag} {GENERIC_NO}\r\n"));
        s.selected = Some(mb);
        return;
    };
    if mb.read_only {
        s.conn
            .put(format!("{tag} NO Current box is selected READ-ONLY.\r\n"));
        s.selected = Some(mb);
        return;
    }
    let mut bad = None;
    let Ok(idx) = indexes(&mb, set, uid, &mut bad) else {
        s.conn.put(format!("{tag} {GENERIC_NO}\r\n"));
        s.selected = Some(mb);
        return;
    };
    let mut out = std::mem::take(&mut s.conn.out);
    if let Some(n) = bad {
        out.extend_from_slice(format!("* NO Invalid message sequence number: {n}\r\n").as_bytes());
    }
    // Quota: a \Deleted message does not count (formats.md 4.4), so setting the
    // flag gives its size back and clearing it takes it again, quota-checked.
    let counts = !s.is_trash(&mb.name);
    let mut quota = if counts {
        courier_maildir::quota::QuotaFile::open(&s.root)
            .ok()
            .flatten()
    } else {
        None
    };
    if !kws.is_empty() {
        mb.ensure_kw();
    }
    let mut changed_idx = Vec::new();
    let mut kw_changed = false;
    let mut over_quota = false;
    for &i in &idx {
        let old = mb.flags(i);
        let mut f = old.clone();
        for fl in Flag::ALL {
            let want = sys.contains(fl);
            match mode {
                StoreMode::Replace => f.set(fl, want),
                StoreMode::Add if want => f.set(fl, true),
                StoreMode::Remove if want => f.set(fl, false),
                _ => {}
            }
        }
        let was_del = old.contains(Flag::Trashed);
        let is_del = f.contains(Flag::Trashed);
        let size = if was_del != is_del && quota.is_some() {
            courier_maildir::name::size_from_name(mb.name(i))
                .or_else(|| std::fs::metadata(mb.file(i)).ok().map(|m| m.len()))
                .unwrap_or(0) as i64
        } else {
            0
        };
        if was_del
            && !is_del
            && let Some(q) = quota.as_mut()
            && !q.check(size, 1).unwrap_or(true)
        {
            over_quota = true;
            continue;
        }
        if !mb.set_flags(i, &f) {
            continue;
        }
        if was_del != is_del
            && let Some(q) = quota.as_mut()
        {
            let _ = if is_del {
                q.add(-size, -1)
            } else {
                q.add(size, 1)
            };
        }
        if let Some(k) = mb.kw.as_mut() {
            let base = mb.names.base(&mb.msgs[i]).to_string();
            let current: Vec<Vec<u8>> = k.keywords(base.as_bytes()).map(<[u8]>::to_vec).collect();
            let mut want = current.clone();
            match mode {
                StoreMode::Replace => want = kws.clone(),
                StoreMode::Add => {
                    for kw in &kws {
                        if !want.iter().any(|w| w.eq_ignore_ascii_case(kw)) {
                            want.push(kw.clone());
                        }
                    }
                }
                StoreMode::Remove => {
                    want.retain(|w| !kws.iter().any(|kw| kw.eq_ignore_ascii_case(w)))
                }
            }
            let same = want.len() == current.len()
                && want
                    .iter()
                    .all(|w| current.iter().any(|c| c.eq_ignore_ascii_case(w)));
            if !same {
                kw_changed |= k
                    .set(base.as_bytes(), want.iter().map(Vec::as_slice))
                    .is_ok();
            }
        }
        changed_idx.push(i);
    }
    if kw_changed && let Some(k) = mb.kw.as_mut() {
        let _ = k.consolidate();
    }
    // A keyword added to the folder is announced (FLAGS, PERMANENTFLAGS) before
    // the FETCH responses, one that went away after them, as Courier orders them.
    let names = mb.keyword_names();
    let grew = names.iter().any(|n| !mb.announced.contains(n));
    if grew {
        mb.announced = names;
        crate::session::write_flags_lines(&mb, &mut out);
    }
    if !silent {
        for i in changed_idx {
            out.extend_from_slice(format!("* {} FETCH (", i + 1).as_bytes());
            if uid {
                out.extend_from_slice(format!("UID {} ", mb.msgs[i].uid).as_bytes());
            }
            out.extend_from_slice(b"FLAGS ");
            mb.write_flags(i, &mut out);
            out.extend_from_slice(b")\r\n");
        }
    }
    let names = mb.keyword_names();
    if names != mb.announced {
        mb.announced = names;
        crate::session::write_flags_lines(&mb, &mut out);
    }
    if over_quota {
        out.extend_from_slice(
            format!("{tag} NO [ALERT] You exceeded your mail quota.\r\n").as_bytes(),
        );
    } else {
        out.extend_from_slice(format!("{tag} OK STORE completed.\r\n").as_bytes());
    }
    s.conn.out = out;
    s.selected = Some(mb);
}

/// Validates a flag list for STORE/APPEND: `\Recent` and unknown system flags are
/// errors (RFC 3501 `flag` excludes them), keywords only when enabled.
pub fn check_flags(flags: &[Vec<u8>], keywords: bool) -> Option<(Flags, Vec<Vec<u8>>)> {
    for f in flags {
        if f.first() == Some(&b'\\') {
            let l = f.to_ascii_lowercase();
            if !matches!(
                &l[..],
                b"\\seen" | b"\\answered" | b"\\flagged" | b"\\deleted" | b"\\draft"
            ) {
                return None;
            }
        } else if !keywords {
            return None;
        }
    }
    Some(split_flags(flags))
}

/// COPY / MOVE (and their UID forms).
pub fn copy(s: &mut Session, tag: &str, uid: bool, set: &SeqSet, mailbox: &[u8], is_move: bool) {
    let (name, dir) = match s.target_dir(mailbox) {
        Ok(t) => t,
        Err(e) => return s.conn.put(format!("{tag} NO {e}\r\n")),
    };
    let Some(mut mb) = s.selected.take() else {
        return;
    };
    if is_move && mb.read_only {
        s.conn
            .put(format!("{tag} NO Current box is selected READ-ONLY.\r\n"));
        s.selected = Some(mb);
        return;
    }
    let mut bad = None;
    let Ok(idx) = indexes(&mb, set, uid, &mut bad) else {
        s.conn.put(format!("{tag} {GENERIC_NO}\r\n"));
        s.selected = Some(mb);
        return;
    };
    if let Some(n) = bad {
        s.conn
            .put(format!("* NO Invalid message sequence number: {n}\r\n"));
    }
    let same = dir == mb.path;
    // Quota: a move within the account does not change usage; \Deleted messages
    // do not count (formats.md 4.4).
    let counted: Vec<usize> = idx
        .iter()
        .copied()
        .filter(|&i| !mb.flags(i).contains(Flag::Trashed))
        .collect();
    let total: u64 = counted
        .iter()
        .map(|&i| {
            courier_maildir::name::size_from_name(mb.name(i))
                .or_else(|| std::fs::metadata(mb.file(i)).ok().map(|m| m.len()))
                .unwrap_or(0)
        })
        .sum();
    if !is_move && !s.quota_allows(&name, total, counted.len() as u64) {
        s.conn.put(format!(
            "{tag} NO [OVERQUOTA] You exceeded your mail quota.\r\n"
        ));
        s.selected = Some(mb);
        return;
    }
    let opts = kw_options(&s.cfg);
    let mut dest_kw: Option<KeywordStore> = None;
    let mut src_uids = Vec::new();
    let mut new_bases = Vec::new();
    let mut moved_idx = Vec::new();
    let mut failed = false;
    for &i in &idx {
        if same && is_move {
            // Moving a message onto itself: nothing to do.
            src_uids.push(mb.msgs[i].uid);
            continue;
        }
        let placed = if is_move {
            move_one(&mut mb, i, &dir)
        } else {
            copy_one(&mut mb, i, &dir)
        };
        match placed {
            Ok(base) => {
                if let Some(k) = &mb.kw {
                    let kws: Vec<&[u8]> = k.keywords(mb.base(i).as_bytes()).collect();
                    if !kws.is_empty() {
                        if dest_kw.is_none() {
                            dest_kw = KeywordStore::open(&dir, opts).ok();
                        }
                        if let Some(d) = dest_kw.as_mut() {
                            let _ = d.insert_message(base.as_bytes());
                            let _ = d.set(base.as_bytes(), kws);
                        }
                    }
                }
                src_uids.push(mb.msgs[i].uid);
                new_bases.push(base);
                moved_idx.push(i);
            }
            Err(e) => {
                log!(
                    Err,
                    "imapd: {} to {}: {e}",
                    if is_move { "MOVE" } else { "COPY" },
                    dir.display()
                );
                failed = true;
                break;
            }
        }
    }
    if let Some(d) = dest_kw.as_mut() {
        let _ = d.consolidate();
    }
    let _ = courier_maildir::delivery::sync_dir(&dir.join("cur"));
    if !is_move {
        s.quota_add(&name, total, counted.len() as u64);
    } else if !failed {
        // Trash does not count: moving into it gives the size back, out of it
        // takes it again.
        let (from_trash, to_trash) = (s.is_trash(&mb.name), s.is_trash(&name));
        if from_trash != to_trash
            && let Ok(Some(mut q)) = courier_maildir::quota::QuotaFile::open(&s.root)
        {
            let (b, c) = (total as i64, counted.len() as i64);
            let _ = if to_trash { q.add(-b, -c) } else { q.add(b, c) };
        }
    }
    let uids = crate::session::uid_after_add(&dir, &new_bases, s.cfg.use_locks);
    s.selected = Some(mb);
    if failed && new_bases.is_empty() {
        let text = if is_move {
            "[ALERT] MOVE failed - no write permission or out of disk space."
        } else {
            "[ALERT] COPY failed - no write permission or out of disk space."
        };
        s.send_updates(is_move);
        return s.conn.put(format!("{tag} NO {text}\r\n"));
    }
    let code = match uids {
        Some((v, dst)) if !dst.is_empty() => {
            let mut a = Vec::new();
            let mut srt = src_uids.clone();
            srt.sort_unstable();
            // COPYUID pairs source and destination UIDs in order; both are ascending.
            format_ranges(&srt, &mut a);
            let mut b = Vec::new();
            format_ranges(&dst, &mut b);
            format!(
                "[COPYUID {v} {} {}] ",
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            )
        }
        _ => String::new(),
    };
    if is_move {
        s.conn.put(format!("* OK {code}Moved.\r\n"));
        s.send_updates(true);
        s.conn.put(format!("{tag} OK MOVE completed.\r\n"));
    } else {
        s.conn.put(format!("{tag} OK {code}COPY completed.\r\n"));
    }
    if failed {
        let _ = GENERIC_NO;
    }
}

/// A unique name for a new message with the given source file's identity.
fn new_name(size: Option<u64>, dev: u64, ino: u64) -> String {
    courier_maildir::name::UniqueName::now(None, size).final_name(dev, ino, size)
}

/// Copies message `i` into `dir`; returns the new basename. A hard link where
/// possible (messages are immutable), else a copy through `tmp/`.
fn copy_one(mb: &mut Mailbox, i: usize, dir: &Path) -> std::io::Result<String> {
    let mut src = mb.file(i);
    let meta = match std::fs::symlink_metadata(&src) {
        Ok(m) => m,
        Err(_) => {
            mb.refind(i);
            src = mb.file(i);
            std::fs::symlink_metadata(&src)?
        }
    };
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let flags = mb.flags(i);
    let size = courier_maildir::name::size_from_name(mb.name(i)).or(Some(meta.len()));
    for _ in 0..5 {
        let base = new_name(size, meta.dev(), meta.ino());
        let target = dir.join("cur").join(flags.file_name(&base));
        match std::fs::hard_link(&src, &target) {
            Ok(()) => return Ok(base),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::thread::sleep(std::time::Duration::from_millis(1));
                continue;
            }
            Err(_) => break,
        }
    }
    // Fallback: a real copy.
    let mut f = open_msg(&src)?;
    let mut tmp = TmpFile::create(dir, None, size, MESSAGE_MODE).map_err(std::io::Error::other)?;
    tmp.copy_from(&mut f, &src.to_string_lossy())
        .map_err(std::io::Error::other)?;
    let path = tmp
        .commit_cur(&flags, meta.modified().ok())
        .map_err(std::io::Error::other)?;
    let fname = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(courier_maildir::name::basename(&fname).to_string())
}

/// Moves message `i` into `dir` by one rename (same file system: atomic, so the
/// message is always in exactly one folder). Returns the basename (unchanged).
fn move_one(mb: &mut Mailbox, i: usize, dir: &Path) -> std::io::Result<String> {
    for attempt in 0..2 {
        let src = mb.file(i);
        let target = dir.join("cur").join(mb.name(i));
        if std::fs::symlink_metadata(&target).is_ok() {
            return Err(std::io::Error::other("target exists"));
        }
        match std::fs::rename(&src, &target) {
            Ok(()) => return Ok(mb.base(i).to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt == 0 => {
                if !mb.refind(i) {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("message vanished"))
}

/// Writes an APPENDed message into `tmp/`, converting CRLF to LF as Courier stores
/// messages, in constant memory.
pub struct AppendWriter {
    tmp: TmpFile,
    dir: PathBuf,
    pending_cr: bool,
    buf: Vec<u8>,
}

impl AppendWriter {
    /// Starts a message in `dir/tmp/`.
    pub fn new(dir: &Path) -> Result<AppendWriter, courier_maildir::MaildirError> {
        Ok(AppendWriter {
            tmp: TmpFile::create(dir, None, None, MESSAGE_MODE)?,
            dir: dir.to_path_buf(),
            pending_cr: false,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Adds bytes.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), courier_maildir::MaildirError> {
        self.buf.clear();
        for &c in chunk {
            if self.pending_cr {
                self.pending_cr = false;
                if c != b'\n' {
                    self.buf.push(b'\r');
                }
            }
            if c == b'\r' {
                self.pending_cr = true;
            } else {
                self.buf.push(c);
            }
        }
        let b = std::mem::take(&mut self.buf);
        let r = self.tmp.write_all(&b);
        self.buf = b;
        r
    }

    /// Bytes stored so far.
    pub fn size(&self) -> u64 {
        self.tmp.size() + u64::from(self.pending_cr)
    }

    /// Moves the message into `cur/` with `flags` and the INTERNALDATE `mtime`.
    /// The data is synced first (an acknowledged APPEND survives a crash of the
    /// server); the directory entry is left to the file system's journal, as
    /// Courier does, which keeps APPEND to one sync.
    pub fn commit(
        mut self,
        flags: &Flags,
        mtime: Option<std::time::SystemTime>,
    ) -> Result<PathBuf, courier_maildir::MaildirError> {
        if self.pending_cr {
            self.tmp.write_all(b"\r")?;
        }
        let path = self.tmp.path().to_path_buf();
        let io = |e: std::io::Error| courier_maildir::MaildirError::io(&path, e);
        if let Some(t) = mtime {
            self.tmp.file().set_modified(t).map_err(io)?;
        }
        self.tmp.file().sync_data().map_err(io)?;
        let meta = self.tmp.file().metadata().map_err(io)?;
        let size = self.tmp.size();
        let base = new_name(Some(size), meta.dev(), meta.ino());
        let target = self.dir.join("cur").join(flags.file_name(&base));
        self.tmp.rename_to_unsynced(&target)?;
        Ok(target)
    }
}

/// Messages larger than this are never read into memory for FETCH of the whole
/// message, its header, size or text: they are streamed.
const STREAM_OVER: u64 = 8 << 20;
/// Messages larger than this are not parsed (BODYSTRUCTURE, parts): parsing holds
/// the message twice, and the process must stay within IMAP_ULIMITD.
pub const PARSE_LIMIT: u64 = 40 << 20;

/// FETCH of one big message without holding it in memory. Returns false when the
/// message is small enough for the ordinary path.
fn big_fetch(
    s: &mut Session,
    mb: &mut Mailbox,
    i: usize,
    atts: &[FetchAtt],
    out: &mut Vec<u8>,
) -> bool {
    let seq = i + 1;
    let meta = match std::fs::symlink_metadata(mb.file(i)) {
        Ok(m) => m,
        Err(_) if mb.refind(i) => match std::fs::symlink_metadata(mb.file(i)) {
            Ok(m) => m,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    if meta.len() <= STREAM_OVER {
        return false;
    }
    let whole = |a: &FetchAtt| match a {
        FetchAtt::Rfc822 => true,
        FetchAtt::Section { section, .. } => section.part.is_empty() && section.text.is_none(),
        _ => false,
    };
    let header_only = |a: &FetchAtt| match a {
        FetchAtt::Envelope | FetchAtt::Rfc822Header => true,
        FetchAtt::Section { section, .. } => {
            section.part.is_empty()
                && matches!(
                    section.text,
                    Some(
                        SectionText::Header
                            | SectionText::HeaderFields(_)
                            | SectionText::HeaderFieldsNot(_)
                    )
                )
        }
        _ => false,
    };
    let text = |a: &FetchAtt| match a {
        FetchAtt::Rfc822Text => true,
        FetchAtt::Section { section, .. } => {
            section.part.is_empty() && section.text == Some(SectionText::Text)
        }
        _ => false,
    };
    let needs_parse = atts.iter().any(|a| {
        matches!(
            a,
            FetchAtt::Body | FetchAtt::BodyStructure | FetchAtt::Section { .. }
        ) && !whole(a)
            && !header_only(a)
            && !text(a)
    });
    if needs_parse {
        if meta.len() <= PARSE_LIMIT {
            return false;
        }
        out.extend_from_slice(
            format!("* NO Message {seq} is too large to show its structure.\r\n").as_bytes(),
        );
        return true;
    }
    let path = mb.file(i);
    // The header, as Courier serves it, and where the body starts in the file.
    let Some((raw_header, _)) = read_msg(mb, i, true) else {
        out.extend_from_slice(format!("* NO Cannot open message {seq}\r\n").as_bytes());
        return true;
    };
    let header = mime::crlf::from_maildir(&raw_header).into_owned();
    let body_offset = raw_header.len() as u64;
    if mb.msgs[i].size == 0
        && let Some(n) = stream_len(&path)
    {
        mb.msgs[i].size = u32::try_from(n).unwrap_or(u32::MAX);
        mb.sizes_dirty += 1;
    }
    let total = u64::from(mb.msgs[i].size);
    let header_len = header.len() as u64;
    let sets_seen = !mb.read_only
        && atts.iter().any(|a| {
            matches!(
                a,
                FetchAtt::Rfc822 | FetchAtt::Rfc822Text | FetchAtt::Section { peek: false, .. }
            )
        });
    out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
    for (k, a) in atts.iter().enumerate() {
        if k > 0 {
            out.push(b' ');
        }
        match a {
            FetchAtt::Uid => out.extend_from_slice(format!("UID {}", mb.msgs[i].uid).as_bytes()),
            FetchAtt::Flags => {
                out.extend_from_slice(b"FLAGS ");
                mb.write_flags(i, out);
            }
            FetchAtt::InternalDate => {
                out.extend_from_slice(b"INTERNALDATE \"");
                out.extend_from_slice(
                    mime::date::format_date_time(
                        meta.mtime(),
                        courier_privsep::local_utc_offset(meta.mtime()),
                    )
                    .as_bytes(),
                );
                out.push(b'"');
            }
            FetchAtt::Rfc822Size => {
                out.extend_from_slice(format!("RFC822.SIZE {total}").as_bytes())
            }
            FetchAtt::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                // No empty line: Courier leaves an unterminated last line out.
                if mime::crlf::header_end(&header).is_some() {
                    out.extend_from_slice(&mime::envelope_from_header(&header));
                } else {
                    out.extend_from_slice(&mime::Message::parse(&header).envelope());
                }
            }
            FetchAtt::Rfc822Header => {
                out.extend_from_slice(b"RFC822.HEADER ");
                s.header_bytes += raw_len(&header);
                literal(out, &header);
            }
            FetchAtt::Section {
                section, partial, ..
            } if header_only(a) => {
                out.extend_from_slice(b"BODY[");
                section_spec(section, out);
                out.push(b']');
                let m = mime::Message::parse(&header);
                let d = m.section(section).unwrap_or_default();
                let d = slice_partial(&d, *partial, out);
                if section.text == Some(SectionText::Header) {
                    s.body_bytes += raw_len(d);
                } else {
                    s.header_bytes += field_len(d);
                }
                literal(out, d);
            }
            _ => {
                // The whole message or its text, streamed.
                let (start, len) = if text(a) {
                    (header_len, total.saturating_sub(header_len))
                } else {
                    (0, total)
                };
                let partial = match a {
                    FetchAtt::Section { partial, .. } => *partial,
                    _ => None,
                };
                match a {
                    FetchAtt::Rfc822 => out.extend_from_slice(b"RFC822"),
                    FetchAtt::Rfc822Text => out.extend_from_slice(b"RFC822.TEXT"),
                    FetchAtt::Section { section, .. } => {
                        out.extend_from_slice(b"BODY[");
                        section_spec(section, out);
                        out.push(b']');
                    }
                    _ => {}
                }
                let (off, n) = match partial {
                    Some((o, l)) => {
                        out.extend_from_slice(format!("<{o}>").as_bytes());
                        let o = u64::from(o).min(len);
                        (o, u64::from(l).min(len - o))
                    }
                    None => (0, len),
                };
                out.extend_from_slice(format!(" {{{n}}}\r\n").as_bytes());
                s.body_bytes += n;
                // Canonical offset `start + off` onwards, `n` bytes. The header part
                // is in memory; the rest comes from the file.
                let mut skip = start + off;
                let mut left = n;
                if skip < header_len {
                    let h = &header[skip as usize..];
                    let take = (h.len() as u64).min(left) as usize;
                    out.extend_from_slice(&h[..take]);
                    left -= take as u64;
                    skip = 0;
                } else {
                    skip -= header_len;
                }
                if left > 0 {
                    s.conn.out = std::mem::take(out);
                    s.conn.flush();
                    if !stream_canonical(&path, body_offset, skip, left, &mut s.conn) {
                        // The file changed under us and the promised literal cannot
                        // be completed: end the session rather than leave the
                        // client waiting for bytes that never come.
                        s.conn.broken = true;
                    }
                    *out = std::mem::take(&mut s.conn.out);
                }
            }
        }
    }
    out.extend_from_slice(b")\r\n");
    if sets_seen {
        let mut f = mb.flags(i);
        if !f.contains(Flag::Seen) {
            f.set(Flag::Seen, true);
            if mb.set_flags(i, &f) {
                out.extend_from_slice(format!("* {seq} FETCH (FLAGS ").as_bytes());
                mb.write_flags(i, out);
                out.extend_from_slice(b")\r\n");
            }
        }
    }
    true
}

fn slice_partial<'d>(d: &'d [u8], partial: Option<(u32, u32)>, out: &mut Vec<u8>) -> &'d [u8] {
    match partial {
        Some((off, len)) => {
            out.extend_from_slice(format!("<{off}> ").as_bytes());
            let o = (off as usize).min(d.len());
            let e = o.saturating_add(len as usize).min(d.len());
            &d[o..e]
        }
        None => {
            out.push(b' ');
            d
        }
    }
}

/// CRLF size of a file, read in chunks (every LF counts as CRLF, like Courier).
pub fn stream_len(path: &Path) -> Option<u64> {
    let mut f = open_msg(path).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Some(n),
            Ok(k) => n += k as u64 + buf[..k].iter().filter(|&&c| c == b'\n').count() as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Writes `n` canonical bytes of the file's body (which starts at raw offset
/// `body_offset`), skipping the first `skip` canonical bytes, to the connection.
fn stream_canonical(
    path: &Path,
    body_offset: u64,
    mut skip: u64,
    mut n: u64,
    conn: &mut crate::io::Conn,
) -> bool {
    use std::io::{Seek, SeekFrom};
    let Ok(mut f) = open_msg(path) else {
        return false;
    };
    if f.seek(SeekFrom::Start(body_offset)).is_err() {
        return false;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut conv = Vec::with_capacity(130 * 1024);
    while n > 0 {
        let k = match f.read(&mut buf) {
            Ok(0) => return false,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        };
        conv.clear();
        for &c in &buf[..k] {
            if c == b'\n' {
                conv.push(b'\r');
            }
            conv.push(c);
        }
        let mut part = &conv[..];
        if skip > 0 {
            let sk = (skip as usize).min(part.len());
            part = &part[sk..];
            skip -= sk as u64;
        }
        let take = (part.len() as u64).min(n) as usize;
        conn.out.extend_from_slice(&part[..take]);
        n -= take as u64;
        conn.flush();
        if conn.broken {
            return false;
        }
    }
    true
}
