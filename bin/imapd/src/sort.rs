//! SORT and THREAD (RFC 5256): ORDEREDSUBJECT and REFERENCES.

use crate::mailbox::Mailbox;
use crate::search::{BADCHARSET, matching, prepare};
use crate::session::Session;
use courier_imap_proto::{SearchKey, SortKey};
use courier_rfc2045 as mime;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

/// What sorting and threading need of one message.
struct Info {
    idx: usize,
    arrival: i64,
    date: i64,
    size: u64,
    subject: Vec<u8>,
    reply: bool,
    from: Vec<u8>,
    to: Vec<u8>,
    cc: Vec<u8>,
    msgid: Option<Vec<u8>>,
    refs: Vec<Vec<u8>>,
}

fn read_header(path: &std::path::Path) -> Option<(Vec<u8>, i64, u64)> {
    let (data, meta) = crate::fetch::read_file(path, true).ok()?;
    Some((data, meta.mtime(), meta.len()))
}

fn first(h: &[u8], name: &[u8]) -> Vec<u8> {
    mime::search::header_values(h, name)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// The mailbox (local part) of the first address, upper-cased for i;ascii-casemap.
fn first_mailbox(v: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(v);
    // A group (`undisclosed-recipients:;`) sorts as the empty string (RFC 5256).
    let lead = s.split(['<', '@']).next().unwrap_or("");
    if lead.contains(':') {
        return Vec::new();
    }
    let addr = match (s.find('<'), s.find('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].to_string(),
        _ => s.split(',').next().unwrap_or("").trim().to_string(),
    };
    let local = addr
        .split('@')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"');
    local.to_ascii_uppercase().into_bytes()
}

/// RFC 5256 base subject, upper-cased; and whether it was a reply or forward.
pub fn base_subject(v: &[u8]) -> (Vec<u8>, bool) {
    let mut s: String = String::from_utf8_lossy(v)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut reply = false;
    loop {
        let before = s.clone();
        // (2) trailing "(fwd)" and blanks.
        loop {
            let t = s.trim_end().to_string();
            let tail = t.len().checked_sub(5).and_then(|k| t.get(k..));
            if tail.is_some_and(|x| x.eq_ignore_ascii_case("(fwd)")) {
                s = t[..t.len() - 5].to_string();
                reply = true;
            } else {
                s = t;
                break;
            }
        }
        // (3) leading subj-refwd and subj-blob.
        loop {
            let t = s.trim_start().to_string();
            if let Some(rest) = strip_refwd(&t) {
                s = rest;
                reply = true;
                continue;
            }
            if t.starts_with('[')
                && let Some(end) = t.find(']')
            {
                let rest = t[end + 1..].trim_start().to_string();
                if !rest.is_empty() {
                    s = rest;
                    continue;
                }
            }
            s = t;
            break;
        }
        // (4) "[fwd:" ... "]".
        if s.len() > 6
            && s.get(..5).is_some_and(|x| x.eq_ignore_ascii_case("[fwd:"))
            && s.ends_with(']')
        {
            s = s[5..s.len() - 1].trim().to_string();
            reply = true;
        }
        if s == before {
            break;
        }
    }
    (s.to_uppercase().into_bytes(), reply)
}

fn strip_refwd(t: &str) -> Option<String> {
    let lower = t.to_ascii_lowercase();
    let word = ["re", "fwd", "fw"]
        .into_iter()
        .find(|w| lower.starts_with(w))?;
    let mut rest = t[word.len()..].trim_start();
    if rest.starts_with('[') {
        let end = rest.find(']')?;
        rest = rest[end + 1..].trim_start();
    }
    rest.strip_prefix(':').map(str::to_string)
}

fn msg_ids(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(a) = rest.iter().position(|&c| c == b'<') {
        let Some(b) = rest[a..].iter().position(|&c| c == b'>') else {
            break;
        };
        let id = &rest[a + 1..a + b];
        if !id.is_empty() && !id.iter().any(|c| c.is_ascii_whitespace()) {
            out.push(id.to_vec());
        }
        rest = &rest[a + b + 1..];
    }
    out
}

fn gather(mb: &mut Mailbox, hits: &[usize]) -> Vec<Info> {
    mb.load_sizes();
    let mut v = Vec::with_capacity(hits.len());
    for &i in hits {
        let Some((h, mtime, len)) = read_header(&mb.file(i)).or_else(|| {
            if mb.refind(i) {
                read_header(&mb.file(i))
            } else {
                None
            }
        }) else {
            continue;
        };
        let h = mime::crlf::from_maildir(&h).into_owned();
        let date = mime::date::parse_rfc2822(&first(&h, b"Date")).map_or(mtime, |(e, _)| e);
        let (subject, reply) = base_subject(&first(&h, b"Subject"));
        let size = if mb.msgs[i].size != 0 {
            u64::from(mb.msgs[i].size)
        } else {
            std::fs::read(mb.file(i))
                .map(|d| mime::crlf::from_maildir_len(&d))
                .unwrap_or(len)
        };
        let refs_h = first(&h, b"References");
        let mut refs = msg_ids(&refs_h);
        if refs.is_empty() {
            refs = msg_ids(&first(&h, b"In-Reply-To"))
                .into_iter()
                .take(1)
                .collect();
        }
        v.push(Info {
            idx: i,
            arrival: mtime,
            date,
            size,
            subject,
            reply,
            from: first_mailbox(&first(&h, b"From")),
            to: first_mailbox(&first(&h, b"To")),
            cc: first_mailbox(&first(&h, b"Cc")),
            msgid: msg_ids(&first(&h, b"Message-ID")).into_iter().next(),
            refs,
        });
    }
    v
}

/// SORT / UID SORT.
pub fn sort(
    s: &mut Session,
    tag: &str,
    uid: bool,
    criteria: &[(bool, SortKey)],
    charset: &[u8],
    key: &SearchKey,
) {
    let Ok(key) = prepare(Some(charset), key) else {
        return s.conn.put(format!("{tag} {BADCHARSET}\r\n"));
    };
    let Some(mut mb) = s.selected.take() else {
        return;
    };
    let hits = matching(&mut mb, &key);
    let mut infos = gather(&mut mb, &hits);
    infos.sort_by(|a, b| {
        for &(rev, k) in criteria {
            let o = match k {
                SortKey::Arrival => a.arrival.cmp(&b.arrival),
                SortKey::Date => a.date.cmp(&b.date),
                SortKey::Size => a.size.cmp(&b.size),
                SortKey::Subject => a.subject.cmp(&b.subject),
                SortKey::From => a.from.cmp(&b.from),
                SortKey::To => a.to.cmp(&b.to),
                SortKey::Cc => a.cc.cmp(&b.cc),
            };
            let o = if rev { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        a.idx.cmp(&b.idx)
    });
    let mut out = b"* SORT".to_vec();
    for m in &infos {
        let n = if uid {
            mb.msgs[m.idx].uid
        } else {
            m.idx as u32 + 1
        };
        out.extend_from_slice(format!(" {n}").as_bytes());
    }
    out.extend_from_slice(format!("\r\n{tag} OK SORT done.\r\n").as_bytes());
    s.conn.put(out);
    s.selected = Some(mb);
}

/// How a node is dated for sorting.
type DateKey<'a> = &'a dyn Fn(&[Node], usize) -> (i64, usize);

/// A thread tree node: a message (index into infos) or a dummy.
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// THREAD / UID THREAD.
pub fn thread(
    s: &mut Session,
    tag: &str,
    uid: bool,
    references: bool,
    charset: &[u8],
    key: &SearchKey,
) {
    let Ok(key) = prepare(Some(charset), key) else {
        return s.conn.put(format!("{tag} {BADCHARSET}\r\n"));
    };
    let Some(mut mb) = s.selected.take() else {
        return;
    };
    let hits = matching(&mut mb, &key);
    let infos = gather(&mut mb, &hits);
    let id = |m: &Info| {
        if uid {
            mb.msgs[m.idx].uid
        } else {
            m.idx as u32 + 1
        }
    };
    let mut out = b"* THREAD".to_vec();
    if references {
        let (nodes, roots) = references_tree(&infos);
        out.push(b' ');
        for r in roots {
            out.push(b'(');
            write_node(&nodes, r, &infos, &id, &mut out);
            out.push(b')');
        }
    } else {
        // ORDEREDSUBJECT: by base subject then date; each subject is one thread,
        // later messages children of the first.
        let mut order: Vec<usize> = (0..infos.len()).collect();
        order.sort_by(|&a, &b| {
            infos[a]
                .subject
                .cmp(&infos[b].subject)
                .then(infos[a].date.cmp(&infos[b].date))
                .then(infos[a].idx.cmp(&infos[b].idx))
        });
        let mut threads: Vec<Vec<usize>> = Vec::new();
        for i in order {
            match threads.last_mut() {
                Some(t) if infos[t[0]].subject == infos[i].subject => t.push(i),
                _ => threads.push(vec![i]),
            }
        }
        threads.sort_by(|a, b| {
            infos[a[0]]
                .date
                .cmp(&infos[b[0]].date)
                .then(infos[a[0]].idx.cmp(&infos[b[0]].idx))
        });
        out.push(b' ');
        for t in threads {
            out.extend_from_slice(format!("({}", id(&infos[t[0]])).as_bytes());
            if t.len() == 2 {
                out.extend_from_slice(format!(" {}", id(&infos[t[1]])).as_bytes());
            } else if t.len() > 2 {
                out.push(b' ');
                for &c in &t[1..] {
                    out.extend_from_slice(format!("({})", id(&infos[c])).as_bytes());
                }
            }
            out.push(b')');
        }
    }
    if out.ends_with(b" ") {
        out.pop();
    }
    out.extend_from_slice(format!("\r\n{tag} OK THREAD done.\r\n").as_bytes());
    s.conn.put(out);
    s.selected = Some(mb);
}

fn write_node(
    nodes: &[Node],
    n: usize,
    infos: &[Info],
    id: &dyn Fn(&Info) -> u32,
    out: &mut Vec<u8>,
) {
    let mut cur = n;
    let mut first = true;
    loop {
        let node = &nodes[cur];
        if let Some(m) = node.msg {
            if !first {
                out.push(b' ');
            }
            out.extend_from_slice(id(&infos[m]).to_string().as_bytes());
            first = false;
        }
        match node.children.len() {
            0 => return,
            1 if node.msg.is_some() => cur = node.children[0],
            _ => {
                if !first {
                    out.push(b' ');
                }
                for &c in &node.children {
                    out.push(b'(');
                    write_node(nodes, c, infos, id, out);
                    out.push(b')');
                }
                return;
            }
        }
    }
}

fn is_ancestor(nodes: &[Node], a: usize, mut b: usize) -> bool {
    // Whether `a` is `b` or above it.
    let mut guard = 0;
    loop {
        if a == b {
            return true;
        }
        match nodes[b].parent {
            Some(p) => b = p,
            None => return false,
        }
        guard += 1;
        if guard > 100_000 {
            return true;
        }
    }
}

fn unlink(nodes: &mut [Node], c: usize) {
    if let Some(p) = nodes[c].parent.take() {
        nodes[p].children.retain(|&x| x != c);
    }
}

fn link(nodes: &mut [Node], p: usize, c: usize) {
    unlink(nodes, c);
    nodes[c].parent = Some(p);
    nodes[p].children.push(c);
}

/// RFC 5256 REFERENCES: returns the nodes and the sorted root set.
fn references_tree(infos: &[Info]) -> (Vec<Node>, Vec<usize>) {
    let mut nodes: Vec<Node> = Vec::new();
    let mut by_id: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut get = |nodes: &mut Vec<Node>, id: &[u8]| -> usize {
        if let Some(&n) = by_id.get(id) {
            return n;
        }
        nodes.push(Node {
            msg: None,
            parent: None,
            children: Vec::new(),
        });
        by_id.insert(id.to_vec(), nodes.len() - 1);
        nodes.len() - 1
    };
    for (k, m) in infos.iter().enumerate() {
        // (1A) a container for the message (a duplicate id gets its own).
        let me = match &m.msgid {
            Some(id) => {
                let n = get(&mut nodes, id);
                if nodes[n].msg.is_some() {
                    nodes.push(Node {
                        msg: None,
                        parent: None,
                        children: Vec::new(),
                    });
                    nodes.len() - 1
                } else {
                    n
                }
            }
            None => {
                nodes.push(Node {
                    msg: None,
                    parent: None,
                    children: Vec::new(),
                });
                nodes.len() - 1
            }
        };
        nodes[me].msg = Some(k);
        // (1B) link the references chain, without loops or re-parenting.
        let mut prev: Option<usize> = None;
        for r in &m.refs {
            let n = get(&mut nodes, r);
            if let Some(p) = prev
                && nodes[n].parent.is_none()
                && !is_ancestor(&nodes, n, p)
            {
                link(&mut nodes, p, n);
            }
            prev = Some(n);
        }
        // (1C) the last reference is the message's parent.
        match prev {
            Some(p) if p != me && !is_ancestor(&nodes, me, p) => link(&mut nodes, p, me),
            _ => unlink(&mut nodes, me),
        }
    }
    // (2) roots; (4) prune dummies.
    let mut roots: Vec<usize> = (0..nodes.len())
        .filter(|&n| nodes[n].parent.is_none())
        .collect();
    roots = prune(&mut nodes, roots, true);
    // (5) sort children by date, recursively; then roots.
    let date = |nodes: &[Node], n: usize| -> (i64, usize) { first_date(nodes, n, infos) };
    fn sort_rec(nodes: &mut Vec<Node>, n: usize, key: DateKey<'_>) {
        let mut ch = std::mem::take(&mut nodes[n].children);
        for &c in &ch {
            sort_rec(nodes, c, key);
        }
        ch.sort_by_key(|&c| key(nodes, c));
        nodes[n].children = ch;
    }
    for &r in &roots {
        sort_rec(&mut nodes, r, &date);
    }
    roots.sort_by_key(|&r| date(&nodes, r));
    // (6) merge roots with the same base subject.
    let subject_of = |nodes: &[Node], r: usize| -> Option<(Vec<u8>, bool)> {
        let m = nodes[r]
            .msg
            .or_else(|| nodes[r].children.first().and_then(|&c| nodes[c].msg))?;
        Some((infos[m].subject.clone(), infos[m].reply))
    };
    let mut table: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut merged_away = vec![false; nodes.len()];
    for &r in &roots.clone() {
        let Some((subj, reply)) = subject_of(&nodes, r) else {
            continue;
        };
        if subj.is_empty() {
            continue;
        }
        match table.get(&subj).copied() {
            None => {
                table.insert(subj, r);
            }
            Some(o) if o != r => {
                let o_dummy = nodes[o].msg.is_none();
                let r_dummy = nodes[r].msg.is_none();
                let o_reply = nodes[o].msg.is_some_and(|m| infos[m].reply);
                if o_dummy && r_dummy {
                    let ch = std::mem::take(&mut nodes[r].children);
                    for c in ch {
                        nodes[c].parent = None;
                        link(&mut nodes, o, c);
                    }
                } else if o_dummy || (!o_reply && reply) {
                    link(&mut nodes, o, r);
                } else if r_dummy {
                    link(&mut nodes, r, o);
                    merged_away[o] = true;
                    table.insert(subj, r);
                    continue;
                } else {
                    nodes.push(Node {
                        msg: None,
                        parent: None,
                        children: Vec::new(),
                    });
                    merged_away.push(false);
                    let d = nodes.len() - 1;
                    link(&mut nodes, d, o);
                    link(&mut nodes, d, r);
                    merged_away[o] = true;
                    roots.push(d);
                    table.insert(subj, d);
                }
                merged_away[r] = true;
            }
            _ => {}
        }
    }
    let mut roots: Vec<usize> = roots
        .into_iter()
        .filter(|&r| !merged_away[r] && nodes[r].parent.is_none())
        .collect();
    for &r in &roots {
        sort_rec(&mut nodes, r, &date);
    }
    roots.sort_by_key(|&r| date(&nodes, r));
    (nodes, roots)
}

/// Date of a node for sorting: its message, or its first child's (sorted) date.
fn first_date(nodes: &[Node], n: usize, infos: &[Info]) -> (i64, usize) {
    let mut cur = n;
    for _ in 0..10_000 {
        if let Some(m) = nodes[cur].msg {
            return (infos[m].date, infos[m].idx);
        }
        match nodes[cur].children.first() {
            Some(&c) => cur = c,
            None => break,
        }
    }
    (i64::MAX, usize::MAX)
}

/// Removes empty dummies and promotes the children of dummies (except a dummy at
/// the root with several children).
fn prune(nodes: &mut Vec<Node>, list: Vec<usize>, root: bool) -> Vec<usize> {
    let mut out = Vec::new();
    for n in list {
        let ch = std::mem::take(&mut nodes[n].children);
        let ch = prune(nodes, ch, false);
        nodes[n].children = ch.clone();
        for &c in &ch {
            nodes[c].parent = Some(n);
        }
        if nodes[n].msg.is_some() {
            out.push(n);
            continue;
        }
        if ch.is_empty() {
            continue;
        }
        if root && ch.len() > 1 {
            out.push(n);
            continue;
        }
        // Promote.
        nodes[n].children.clear();
        for c in ch {
            nodes[c].parent = nodes[n].parent;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        assert_eq!(
            base_subject(b"Re: Fwd: [list] Hello  world (fwd)").0,
            b"HELLO WORLD"
        );
        assert!(base_subject(b"Re: x").1);
        assert_eq!(base_subject(b"[Fwd: hi]").0, b"HI");
        assert_eq!(base_subject(b"re[2]: again").0, b"AGAIN");
        assert_eq!(base_subject(b"[only blob]").0, b"[ONLY BLOB]");
        assert!(!base_subject(b"plain").1);
        // Multi-byte characters where the ASCII markers would be.
        assert_eq!(
            base_subject("Grüße aus München".as_bytes()).0,
            "GRÜSSE AUS MÜNCHEN".as_bytes()
        );
        assert_eq!(base_subject("ßßß".as_bytes()).0, "SSSSSS".as_bytes());
        assert_eq!(base_subject("[fwd:ß]ü".as_bytes()).0, "Ü".as_bytes());
        for s in [
            "é",
            "(fwdé",
            "éé(fwd)",
            "Re:",
            "[",
            "[]",
            "re[",
            "Fwd: [x] (fwd)",
        ] {
            let _ = base_subject(s.as_bytes());
        }
    }

    #[test]
    fn mailboxes_and_ids() {
        assert_eq!(first_mailbox(b"\"A B\" <ab@x.org>, c@d"), b"AB");
        assert_eq!(first_mailbox(b"c@d"), b"C");
        assert_eq!(first_mailbox(b"undisclosed-recipients:;"), b"");
        assert_eq!(
            msg_ids(b"<a@b> <c@d>"),
            vec![b"a@b".to_vec(), b"c@d".to_vec()]
        );
    }
}
