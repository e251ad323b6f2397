//! The command grammar (RFC 3501 §9 plus UIDPLUS, MOVE, IDLE, NAMESPACE, ENABLE,
//! ID, UNSELECT, QUOTA), over the flat buffer described in [`crate::framer`].

use crate::command::*;
use crate::seqset::SeqSet;

/// Why a command could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The tag, when one could be read (else the answer goes to `*`).
    pub tag: Option<Vec<u8>>,
    /// What was wrong, for the log and tests.
    pub reason: &'static str,
    /// A known command with a malformed or missing mailbox argument: Courier answers
    /// `BAD Invalid command` for these, `NO` for everything else.
    pub bad: bool,
}

type R<T> = Result<T, &'static str>;

/// Bounded nesting of search keys and parentheses.
const MAX_DEPTH: u32 = 100;

/// A cursor over one command.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn sp(&mut self) -> R<()> {
        if self.peek() != Some(b' ') {
            return Err("expected a space");
        }
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        Ok(())
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn end(&mut self) -> R<()> {
        self.skip_sp();
        if self.at_end() {
            Ok(())
        } else {
            Err("unexpected text after the command")
        }
    }

    fn expect(&mut self, c: u8) -> R<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err("unexpected character")
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// atom: ATOM-CHARs (no specials, no `]`).
    fn atom(&mut self) -> R<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            Err("expected an atom")
        } else {
            Ok(a)
        }
    }

    /// astring: atom (with `]`), quoted or literal.
    fn astring(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => {
                let a = self.take_while(|c| is_atom_char(c) || c == b']');
                if a.is_empty() {
                    Err("expected a string")
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    fn string(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err("expected a string"),
        }
    }

    fn quoted(&mut self) -> R<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err("unterminated quoted string"),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err("bad escape in quoted string"),
                    }
                }
                Some(b'\r' | b'\n' | 0) => return Err("bad character in quoted string"),
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> R<Vec<u8>> {
        self.expect(b'{')?;
        let digits = self.take_while(|c| c.is_ascii_digit());
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        self.expect(b'}')?;
        if self.buf.get(self.pos..self.pos + 2) != Some(b"\r\n") {
            return Err("literal not followed by CRLF");
        }
        self.pos += 2;
        let n: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("bad literal length")?;
        let end = self.pos.checked_add(n).ok_or("bad literal length")?;
        let data = self
            .buf
            .get(self.pos..end)
            .ok_or("literal shorter than announced")?;
        self.pos = end;
        Ok(data.to_vec())
    }

    fn nstring(&mut self) -> R<Option<Vec<u8>>> {
        if self.keyword_ci(b"NIL") {
            return Ok(None);
        }
        self.string().map(Some)
    }

    /// Consumes `kw` (case-insensitive) when it is followed by a delimiter.
    fn keyword_ci(&mut self, kw: &[u8]) -> bool {
        let end = self.pos + kw.len();
        match self.buf.get(self.pos..end) {
            Some(s) if s.eq_ignore_ascii_case(kw) => {
                let next = self.buf.get(end).copied();
                if next.is_none_or(|c| !is_atom_char(c)) {
                    self.pos = end;
                    true
                } else {
                    false
                }
            }
            _ => false,
        }
    }

    fn number(&mut self) -> R<u64> {
        let d = self.take_while(|c| c.is_ascii_digit());
        if d.is_empty() || d.len() > 19 {
            return Err("expected a number");
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("bad number")
    }

    fn seqset(&mut self) -> R<SeqSet> {
        let s = self.take_while(|c| c.is_ascii_digit() || matches!(c, b':' | b',' | b'*'));
        SeqSet::parse(s).ok_or("bad sequence set")
    }

    /// `flag` as in a flag list: `\Seen`, `\*`, a keyword.
    fn flag(&mut self) -> R<Vec<u8>> {
        if self.peek() == Some(b'\\') {
            self.pos += 1;
            if self.peek() == Some(b'*') {
                self.pos += 1;
                return Ok(b"\\*".to_vec());
            }
            let a = self.atom()?;
            let mut v = Vec::with_capacity(a.len() + 1);
            v.push(b'\\');
            v.extend_from_slice(a);
            Ok(v)
        } else {
            Ok(self.atom()?.to_vec())
        }
    }

    fn flag_list(&mut self) -> R<Vec<Vec<u8>>> {
        self.expect(b'(')?;
        let mut flags = Vec::new();
        self.skip_sp();
        while self.peek() != Some(b')') {
            if !flags.is_empty() {
                self.sp()?;
                if self.peek() == Some(b')') {
                    break;
                }
            }
            flags.push(self.flag()?);
        }
        self.expect(b')')?;
        Ok(flags)
    }

    fn list_mailbox(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => {
                let a = self.take_while(|c| is_atom_char(c) || matches!(c, b'%' | b'*' | b']'));
                if a.is_empty() {
                    Err("expected a mailbox pattern")
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    fn date(&mut self) -> R<i64> {
        let raw = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            self.take_while(|c| c.is_ascii_alphanumeric() || c == b'-')
                .to_vec()
        };
        parse_search_date(&raw).ok_or("bad date")
    }
}

fn is_atom_char(c: u8) -> bool {
    c > 0x20 && c < 0x7f && !matches!(c, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// The tag of a line: bytes up to the first space, if they form a valid tag.
pub fn tag_of(buf: &[u8]) -> Option<&[u8]> {
    let end = buf
        .iter()
        .position(|&c| c == b' ' || c == b'\r' || c == b'\n')
        .unwrap_or(buf.len());
    let t = &buf[..end];
    if t.is_empty() || t.len() > 16384 || !t.iter().all(|&c| is_atom_char(c) && c != b'+') {
        None
    } else {
        Some(t)
    }
}

/// Parses one whole command (the flat buffer without its final CRLF).
pub fn parse_command(buf: &[u8]) -> Result<Tagged, ParseError> {
    let tag = tag_of(buf).map(<[u8]>::to_vec);
    let Some(t) = tag.clone() else {
        return Err(ParseError {
            tag: None,
            reason: "missing or invalid tag",
            bad: false,
        });
    };
    let mut c = Cursor::new(buf);
    c.pos = t.len();
    match parse_body(&mut c) {
        Ok(command) => Ok(Tagged { tag: t, command }),
        Err(reason) => {
            let mut n = Cursor::new(buf);
            n.pos = t.len();
            let name = n
                .sp()
                .ok()
                .and_then(|()| n.atom().ok())
                .map(<[u8]>::to_ascii_uppercase);
            let bad = matches!(
                name.as_deref(),
                Some(
                    b"SELECT"
                        | b"EXAMINE"
                        | b"CREATE"
                        | b"DELETE"
                        | b"RENAME"
                        | b"SUBSCRIBE"
                        | b"UNSUBSCRIBE"
                        | b"LIST"
                        | b"LSUB"
                        | b"GETQUOTAROOT"
                        | b"COPY"
                        | b"MOVE"
                        | b"STATUS"
                )
            );
            // A malformed date is a syntax error too (RFC 3501 9 `date`).
            let bad = bad || reason == "bad date";
            Err(ParseError { tag, reason, bad })
        }
    }
}

fn parse_body(c: &mut Cursor<'_>) -> R<Command> {
    c.sp()?;
    let name = c.atom()?.to_ascii_uppercase();
    let cmd = match &name[..] {
        b"CAPABILITY" => Command::Capability,
        b"NOOP" => Command::Noop,
        b"LOGOUT" => Command::Logout,
        b"IDLE" => Command::Idle,
        b"CHECK" => Command::Check,
        b"CLOSE" => Command::Close,
        b"EXPUNGE" => Command::Expunge,
        b"UNSELECT" => Command::Unselect,
        b"NAMESPACE" => Command::Namespace,
        b"SELECT" => {
            c.sp()?;
            let m = c.astring()?;
            skip_select_params(c)?;
            Command::Select(m)
        }
        b"EXAMINE" => {
            c.sp()?;
            let m = c.astring()?;
            skip_select_params(c)?;
            Command::Examine(m)
        }
        b"CREATE" => {
            c.sp()?;
            Command::Create(c.astring()?)
        }
        b"DELETE" => {
            c.sp()?;
            Command::Delete(c.astring()?)
        }
        b"RENAME" => {
            c.sp()?;
            let a = c.astring()?;
            c.sp()?;
            Command::Rename(a, c.astring()?)
        }
        b"SUBSCRIBE" => {
            c.sp()?;
            Command::Subscribe(c.astring()?)
        }
        b"UNSUBSCRIBE" => {
            c.sp()?;
            Command::Unsubscribe(c.astring()?)
        }
        b"LIST" | b"LSUB" => {
            c.sp()?;
            let reference = c.astring_or_empty()?;
            c.sp()?;
            let pattern = c.list_mailbox()?;
            Command::List {
                lsub: &name[..] == b"LSUB",
                reference,
                pattern,
            }
        }
        b"STATUS" => {
            c.sp()?;
            let m = c.astring()?;
            c.sp()?;
            // Courier's leniency: one item without parentheses, unknown items and
            // an empty list are accepted (unknown items are left out of the answer).
            let mut items = Vec::new();
            let paren = c.peek() == Some(b'(');
            if paren {
                c.pos += 1;
            }
            loop {
                c.skip_sp();
                if paren && c.peek() == Some(b')') {
                    c.pos += 1;
                    break;
                }
                if !paren && c.at_end() {
                    break;
                }
                let a = c.atom()?.to_ascii_uppercase();
                match &a[..] {
                    b"MESSAGES" => items.push(StatusItem::Messages),
                    b"RECENT" => items.push(StatusItem::Recent),
                    b"UIDNEXT" => items.push(StatusItem::UidNext),
                    b"UIDVALIDITY" => items.push(StatusItem::UidValidity),
                    b"UNSEEN" => items.push(StatusItem::Unseen),
                    _ => {}
                }
                if items.len() > 100 {
                    return Err("too many STATUS items");
                }
            }
            Command::Status(m, items)
        }
        b"APPEND" => {
            c.sp()?;
            let mailbox = c.astring()?;
            c.sp()?;
            let mut flags = Vec::new();
            let mut date = None;
            if c.peek() == Some(b'(') {
                flags = c.flag_list()?;
                c.sp()?;
            }
            if c.peek() == Some(b'"') {
                date = Some(c.quoted()?);
                c.sp()?;
            }
            let message = c.literal()?;
            Command::Append {
                mailbox,
                flags,
                date,
                message,
            }
        }
        b"SEARCH" => parse_search(c, false)?,
        b"FETCH" => parse_fetch(c, false)?,
        b"STORE" => parse_store(c, false)?,
        b"COPY" => parse_copy(c, false, false)?,
        b"MOVE" => parse_copy(c, false, true)?,
        b"UID" => {
            c.sp()?;
            let sub = c.atom()?.to_ascii_uppercase();
            match &sub[..] {
                b"SEARCH" => parse_search(c, true)?,
                b"FETCH" => parse_fetch(c, true)?,
                b"STORE" => parse_store(c, true)?,
                b"COPY" => parse_copy(c, true, false)?,
                b"MOVE" => parse_copy(c, true, true)?,
                b"EXPUNGE" => {
                    c.sp()?;
                    Command::UidExpunge(c.seqset()?)
                }
                b"SORT" => parse_sort(c, true)?,
                b"THREAD" => parse_thread(c, true)?,
                _ => return Err("unknown UID command"),
            }
        }
        b"ENABLE" => {
            let mut caps = Vec::new();
            while c.peek() == Some(b' ') {
                c.sp()?;
                if c.at_end() {
                    break;
                }
                caps.push(c.atom()?.to_vec());
            }
            if caps.is_empty() {
                return Err("ENABLE needs an argument");
            }
            Command::Enable(caps)
        }
        b"ID" => {
            c.sp()?;
            if c.keyword_ci(b"NIL") {
                Command::Id(None)
            } else {
                c.expect(b'(')?;
                let mut params = Vec::new();
                loop {
                    c.skip_sp();
                    if c.peek() == Some(b')') {
                        c.pos += 1;
                        break;
                    }
                    if params.len() >= 30 {
                        return Err("too many ID parameters");
                    }
                    let k = c.string()?;
                    c.sp()?;
                    let v = c.nstring()?;
                    params.push((k, v));
                }
                Command::Id(Some(params))
            }
        }
        b"GETQUOTAROOT" => {
            c.sp()?;
            Command::GetQuotaRoot(c.astring()?)
        }
        b"GETQUOTA" => {
            c.sp()?;
            Command::GetQuota(c.astring()?)
        }
        b"SETQUOTA" => return Ok(Command::SetQuota),
        b"SORT" => parse_sort(c, false)?,
        b"THREAD" => parse_thread(c, false)?,
        b"LOGIN" | b"AUTHENTICATE" | b"STARTTLS" => return Ok(Command::AlreadyAuthenticated),
        _ => return Err("unknown command"),
    };
    c.end()?;
    Ok(cmd)
}

impl Cursor<'_> {
    fn astring_or_empty(&mut self) -> R<Vec<u8>> {
        self.astring()
    }
}

/// `SELECT mbox (CONDSTORE)` style parameters are accepted and ignored.
fn skip_select_params(c: &mut Cursor<'_>) -> R<()> {
    c.skip_sp();
    if c.peek() == Some(b'(') {
        let mut depth = 0u32;
        while let Some(ch) = c.peek() {
            c.pos += 1;
            match ch {
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        return Err("unbalanced parentheses");
    }
    Ok(())
}

fn parse_copy(c: &mut Cursor<'_>, uid: bool, is_move: bool) -> R<Command> {
    c.sp()?;
    let set = c.seqset()?;
    c.sp()?;
    let mailbox = c.astring()?;
    Ok(if is_move {
        Command::Move { uid, set, mailbox }
    } else {
        Command::Copy { uid, set, mailbox }
    })
}

fn parse_store(c: &mut Cursor<'_>, uid: bool) -> R<Command> {
    c.sp()?;
    let set = c.seqset()?;
    c.sp()?;
    let item = c.take_while(|ch| is_atom_char(ch) || ch == b'+' || ch == b'-');
    let up = item.to_ascii_uppercase();
    let (mode, rest) = match up.first() {
        Some(b'+') => (StoreMode::Add, &up[1..]),
        Some(b'-') => (StoreMode::Remove, &up[1..]),
        _ => (StoreMode::Replace, &up[..]),
    };
    let silent = match rest {
        b"FLAGS" => false,
        b"FLAGS.SILENT" => true,
        _ => return Err("bad STORE item"),
    };
    c.skip_sp();
    let flags = if c.at_end() {
        Vec::new()
    } else if c.peek() == Some(b'(') {
        c.flag_list()?
    } else {
        let mut v = vec![c.flag()?];
        while c.peek() == Some(b' ') {
            c.sp()?;
            if c.at_end() {
                break;
            }
            v.push(c.flag()?);
        }
        v
    };
    Ok(Command::Store {
        uid,
        set,
        mode,
        silent,
        flags,
    })
}

fn parse_fetch(c: &mut Cursor<'_>, uid: bool) -> R<Command> {
    c.sp()?;
    let set = c.seqset()?;
    c.sp()?;
    let mut atts = Vec::new();
    if c.peek() == Some(b'(') {
        c.pos += 1;
        loop {
            c.skip_sp();
            if c.peek() == Some(b')') {
                c.pos += 1;
                break;
            }
            if c.at_end() {
                return Err("unbalanced parentheses");
            }
            atts.push(fetch_att(c)?);
        }
        if atts.is_empty() {
            return Err("empty FETCH list");
        }
    } else {
        let save = c.pos;
        let a = c.atom()?.to_ascii_uppercase();
        match &a[..] {
            b"ALL" => atts.extend([
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
                FetchAtt::Envelope,
            ]),
            b"FAST" => atts.extend([
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
            ]),
            b"FULL" => atts.extend([
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
                FetchAtt::Envelope,
                FetchAtt::Body,
            ]),
            _ => {
                c.pos = save;
                atts.push(fetch_att(c)?);
            }
        }
    }
    Ok(Command::Fetch { uid, set, atts })
}

fn fetch_att(c: &mut Cursor<'_>) -> R<FetchAtt> {
    let name = c
        .take_while(|ch| is_atom_char(ch) && ch != b'[')
        .to_ascii_uppercase();
    let att = match &name[..] {
        b"UID" => FetchAtt::Uid,
        b"FLAGS" => FetchAtt::Flags,
        b"INTERNALDATE" => FetchAtt::InternalDate,
        b"RFC822.SIZE" => FetchAtt::Rfc822Size,
        b"ENVELOPE" => FetchAtt::Envelope,
        b"BODYSTRUCTURE" => FetchAtt::BodyStructure,
        b"RFC822" => FetchAtt::Rfc822,
        b"RFC822.HEADER" => FetchAtt::Rfc822Header,
        b"RFC822.TEXT" => FetchAtt::Rfc822Text,
        b"BODY" | b"BODY.PEEK" => {
            if c.peek() != Some(b'[') {
                if &name[..] == b"BODY" {
                    return Ok(FetchAtt::Body);
                }
                return Err("BODY.PEEK needs a section");
            }
            c.pos += 1;
            let section = parse_section(c)?;
            c.expect(b']')?;
            let partial = if c.peek() == Some(b'<') {
                c.pos += 1;
                let off = c.number()?;
                c.expect(b'.')?;
                let len = c.number()?;
                c.expect(b'>')?;
                if len == 0 || off > u64::from(u32::MAX) || len > u64::from(u32::MAX) {
                    return Err("bad partial");
                }
                Some((off as u32, len as u32))
            } else {
                None
            };
            FetchAtt::Section {
                peek: &name[..] == b"BODY.PEEK",
                section,
                partial,
            }
        }
        _ => return Err("unknown FETCH item"),
    };
    Ok(att)
}

fn parse_section(c: &mut Cursor<'_>) -> R<Section> {
    let mut s = Section::default();
    loop {
        match c.peek() {
            Some(d) if d.is_ascii_digit() => {
                let n = c.number()?;
                if n == 0 || n > u64::from(u32::MAX) || s.part.len() >= 100 {
                    return Err("bad part number");
                }
                s.part.push(n as u32);
                if c.peek() == Some(b'.') {
                    c.pos += 1;
                    continue;
                }
                return Ok(s);
            }
            Some(b']') => {
                if !s.part.is_empty() {
                    return Err("bad section");
                }
                return Ok(s);
            }
            _ => break,
        }
    }
    let word = c
        .take_while(|ch| ch.is_ascii_alphanumeric() || ch == b'.')
        .to_ascii_uppercase();
    s.text = Some(match &word[..] {
        b"HEADER" => SectionText::Header,
        b"TEXT" => SectionText::Text,
        b"MIME" if !s.part.is_empty() => SectionText::Mime,
        b"HEADER.FIELDS" | b"HEADER.FIELDS.NOT" => {
            c.sp()?;
            c.expect(b'(')?;
            let mut names = Vec::new();
            loop {
                c.skip_sp();
                if c.peek() == Some(b')') {
                    c.pos += 1;
                    break;
                }
                if c.at_end() {
                    return Err("unbalanced parentheses");
                }
                names.push(c.astring()?);
            }
            if names.is_empty() {
                return Err("empty header list");
            }
            if &word[..] == b"HEADER.FIELDS" {
                SectionText::HeaderFields(names)
            } else {
                SectionText::HeaderFieldsNot(names)
            }
        }
        _ => return Err("bad section"),
    });
    Ok(s)
}

fn search_program(c: &mut Cursor<'_>) -> R<SearchKey> {
    let mut keys = Vec::new();
    loop {
        keys.push(search_key(c, 0)?);
        c.skip_sp();
        if c.at_end() {
            break;
        }
    }
    Ok(SearchKey::And(keys))
}

fn parse_sort(c: &mut Cursor<'_>, uid: bool) -> R<Command> {
    c.sp()?;
    c.expect(b'(')?;
    let mut criteria = Vec::new();
    let mut reverse = false;
    loop {
        c.skip_sp();
        if c.peek() == Some(b')') {
            c.pos += 1;
            break;
        }
        let w = c.atom()?.to_ascii_uppercase();
        let k = match &w[..] {
            b"REVERSE" => {
                reverse = true;
                continue;
            }
            b"ARRIVAL" => SortKey::Arrival,
            b"CC" => SortKey::Cc,
            b"DATE" => SortKey::Date,
            b"FROM" => SortKey::From,
            b"SIZE" => SortKey::Size,
            b"SUBJECT" => SortKey::Subject,
            b"TO" => SortKey::To,
            _ => return Err("unknown sort criterion"),
        };
        criteria.push((reverse, k));
        reverse = false;
        if criteria.len() > 20 {
            return Err("too many sort criteria");
        }
    }
    if criteria.is_empty() || reverse {
        return Err("bad sort criteria");
    }
    c.sp()?;
    let charset = c.astring()?;
    c.sp()?;
    let key = search_program(c)?;
    Ok(Command::Sort {
        uid,
        criteria,
        charset,
        key,
    })
}

fn parse_thread(c: &mut Cursor<'_>, uid: bool) -> R<Command> {
    c.sp()?;
    let alg = c.atom()?.to_ascii_uppercase();
    let references = match &alg[..] {
        b"REFERENCES" => true,
        b"ORDEREDSUBJECT" => false,
        _ => return Err("unknown THREAD algorithm"),
    };
    c.sp()?;
    let charset = c.astring()?;
    c.sp()?;
    let key = search_program(c)?;
    Ok(Command::Thread {
        uid,
        references,
        charset,
        key,
    })
}

fn parse_search(c: &mut Cursor<'_>, uid: bool) -> R<Command> {
    c.sp()?;
    let mut charset = None;
    if c.keyword_ci(b"CHARSET") {
        c.sp()?;
        charset = Some(c.astring()?);
        c.sp()?;
    }
    let mut keys = Vec::new();
    loop {
        keys.push(search_key(c, 0)?);
        c.skip_sp();
        if c.at_end() {
            break;
        }
    }
    Ok(Command::Search {
        uid,
        charset,
        key: SearchKey::And(keys),
    })
}

fn search_key(c: &mut Cursor<'_>, depth: u32) -> R<SearchKey> {
    if depth > MAX_DEPTH {
        return Err("search program nested too deeply");
    }
    if c.peek() == Some(b'(') {
        c.pos += 1;
        let mut keys = Vec::new();
        loop {
            c.skip_sp();
            if c.peek() == Some(b')') {
                c.pos += 1;
                break;
            }
            if c.at_end() {
                return Err("unbalanced parentheses");
            }
            keys.push(search_key(c, depth + 1)?);
        }
        if keys.is_empty() {
            return Err("empty search list");
        }
        return Ok(SearchKey::And(keys));
    }
    if matches!(c.peek(), Some(b'0'..=b'9' | b'*')) {
        return Ok(SearchKey::Seq(c.seqset()?));
    }
    let word = c.atom()?.to_ascii_uppercase();
    macro_rules! arg {
        () => {{
            c.sp()?;
            c.astring()?
        }};
    }
    macro_rules! date {
        () => {{
            c.sp()?;
            c.date()?
        }};
    }
    Ok(match &word[..] {
        b"ALL" => SearchKey::All,
        b"ANSWERED" => SearchKey::Answered,
        b"BCC" => SearchKey::Bcc(arg!()),
        b"BEFORE" => SearchKey::Before(date!()),
        b"BODY" => SearchKey::Body(arg!()),
        b"CC" => SearchKey::Cc(arg!()),
        b"DELETED" => SearchKey::Deleted,
        b"DRAFT" => SearchKey::Draft,
        b"FLAGGED" => SearchKey::Flagged,
        b"FROM" => SearchKey::From(arg!()),
        b"HEADER" => {
            let n = arg!();
            let v = arg!();
            SearchKey::Header(n, v)
        }
        b"KEYWORD" => {
            c.sp()?;
            SearchKey::Keyword(c.flag()?)
        }
        b"LARGER" => {
            c.sp()?;
            SearchKey::Larger(c.number()?)
        }
        b"NEW" => SearchKey::New,
        b"NOT" => {
            c.sp()?;
            SearchKey::Not(Box::new(search_key(c, depth + 1)?))
        }
        b"OLD" => SearchKey::Old,
        b"ON" => SearchKey::On(date!()),
        b"OR" => {
            c.sp()?;
            let a = search_key(c, depth + 1)?;
            c.sp()?;
            let b = search_key(c, depth + 1)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        b"RECENT" => SearchKey::Recent,
        b"SEEN" => SearchKey::Seen,
        b"SENTBEFORE" => SearchKey::SentBefore(date!()),
        b"SENTON" => SearchKey::SentOn(date!()),
        b"SENTSINCE" => SearchKey::SentSince(date!()),
        b"SINCE" => SearchKey::Since(date!()),
        b"SMALLER" => {
            c.sp()?;
            SearchKey::Smaller(c.number()?)
        }
        b"SUBJECT" => SearchKey::Subject(arg!()),
        b"TEXT" => SearchKey::Text(arg!()),
        b"TO" => SearchKey::To(arg!()),
        b"UID" => {
            c.sp()?;
            SearchKey::Uid(c.seqset()?)
        }
        b"UNANSWERED" => SearchKey::Unanswered,
        b"UNDELETED" => SearchKey::Undeleted,
        b"UNDRAFT" => SearchKey::Undraft,
        b"UNFLAGGED" => SearchKey::Unflagged,
        b"UNKEYWORD" => {
            c.sp()?;
            SearchKey::Unkeyword(c.flag()?)
        }
        b"UNSEEN" => SearchKey::Unseen,
        _ => return Err("unknown search key"),
    })
}

/// The first line of an APPEND whose message literal imapd streams to disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendHead {
    /// Tag.
    pub tag: Vec<u8>,
    /// Mailbox.
    pub mailbox: Vec<u8>,
    /// Flags.
    pub flags: Vec<Vec<u8>>,
    /// Date-time (without quotes).
    pub date: Option<Vec<u8>>,
    /// Message size.
    pub len: u64,
    /// Sent as `{n+}`.
    pub nonsync: bool,
}

/// When `buf` (the command so far, without the final CRLF) is exactly
/// `tag APPEND mailbox [flags] [date] {n}`, its parts; the message literal comes next.
pub fn parse_append_head(buf: &[u8]) -> Option<AppendHead> {
    let tag = tag_of(buf)?.to_vec();
    let mut c = Cursor::new(buf);
    c.pos = tag.len();
    c.sp().ok()?;
    if !c.atom().ok()?.eq_ignore_ascii_case(b"APPEND") {
        return None;
    }
    c.sp().ok()?;
    let mailbox = c.astring().ok()?;
    c.sp().ok()?;
    let mut flags = Vec::new();
    let mut date = None;
    if c.peek() == Some(b'(') {
        flags = c.flag_list().ok()?;
        c.sp().ok()?;
    }
    if c.peek() == Some(b'"') {
        date = Some(c.quoted().ok()?);
        c.sp().ok()?;
    }
    let rest = &buf[c.pos..];
    let ann = crate::framer::literal_at_end(rest)?;
    // The announcement must be all that is left.
    let digits = ann.len.to_string();
    let expect_len = 2 + digits.len() + usize::from(ann.nonsync);
    if rest.len() != expect_len {
        return None;
    }
    Some(AppendHead {
        tag,
        mailbox,
        flags,
        date,
        len: ann.len,
        nonsync: ann.nonsync,
    })
}

/// SEARCH date `d-Mon-yyyy` into days since 1970-01-01.
pub fn parse_search_date(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let mut it = s.split('-');
    let d: u32 = it.next()?.trim().parse().ok()?;
    let m = month(it.next()?)?;
    let y: i64 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=31).contains(&d) || !(1..=9999).contains(&y) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

fn month(s: &str) -> Option<u32> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    M.iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Command {
        parse_command(s.as_bytes())
            .unwrap_or_else(|e| panic!("{s}: {e:?}"))
            .command
    }

    fn bad(s: &[u8]) -> ParseError {
        parse_command(s).expect_err(&String::from_utf8_lossy(s))
    }

    #[test]
    fn simple_commands() {
        assert_eq!(p("a CAPABILITY"), Command::Capability);
        assert_eq!(p("a noop"), Command::Noop);
        assert_eq!(p("a LOGOUT"), Command::Logout);
        assert_eq!(p("a IDLE"), Command::Idle);
        assert_eq!(p("a CHECK"), Command::Check);
        assert_eq!(p("a CLOSE"), Command::Close);
        assert_eq!(p("a EXPUNGE"), Command::Expunge);
        assert_eq!(p("a UNSELECT"), Command::Unselect);
        assert_eq!(p("a NAMESPACE"), Command::Namespace);
        assert_eq!(p("a SELECT INBOX"), Command::Select(b"INBOX".to_vec()));
        assert_eq!(p("a EXAMINE \"a b\""), Command::Examine(b"a b".to_vec()));
        assert_eq!(p("a CREATE {3}\r\nx.y"), Command::Create(b"x.y".to_vec()));
        assert_eq!(p("a DELETE {3+}\r\nx.y"), Command::Delete(b"x.y".to_vec()));
        assert_eq!(
            p("a RENAME a b"),
            Command::Rename(b"a".to_vec(), b"b".to_vec())
        );
        assert_eq!(p("a SUBSCRIBE a"), Command::Subscribe(b"a".to_vec()));
        assert_eq!(p("a UNSUBSCRIBE a"), Command::Unsubscribe(b"a".to_vec()));
        assert_eq!(
            p("a UID EXPUNGE 1:3"),
            Command::UidExpunge(SeqSet::parse(b"1:3").unwrap())
        );
        assert_eq!(
            p("a GETQUOTAROOT INBOX"),
            Command::GetQuotaRoot(b"INBOX".to_vec())
        );
        assert_eq!(
            p("a GETQUOTA \"ROOT\""),
            Command::GetQuota(b"ROOT".to_vec())
        );
        assert_eq!(
            p("a ENABLE UTF8=ACCEPT"),
            Command::Enable(vec![b"UTF8=ACCEPT".to_vec()])
        );
        assert_eq!(p("a ID NIL"), Command::Id(None));
        assert_eq!(
            p("a ID (\"name\" \"x\" \"v\" NIL)"),
            Command::Id(Some(vec![
                (b"name".to_vec(), Some(b"x".to_vec())),
                (b"v".to_vec(), None)
            ]))
        );
        assert_eq!(
            p("a SORT (REVERSE DATE subject) UTF-8 ALL"),
            Command::Sort {
                uid: false,
                criteria: vec![(true, SortKey::Date), (false, SortKey::Subject)],
                charset: b"UTF-8".to_vec(),
                key: SearchKey::And(vec![SearchKey::All])
            }
        );
        assert!(matches!(
            p("a UID THREAD REFERENCES US-ASCII SEEN"),
            Command::Thread {
                uid: true,
                references: true,
                ..
            }
        ));
        bad(b"a SORT () UTF-8 ALL");
        bad(b"a SORT (REVERSE) UTF-8 ALL");
        bad(b"a THREAD FOO UTF-8 ALL");
    }

    #[test]
    fn list_and_status() {
        assert_eq!(
            p("a LIST \"\" *"),
            Command::List {
                lsub: false,
                reference: vec![],
                pattern: b"*".to_vec()
            }
        );
        assert_eq!(
            p("a LSUB INBOX. %"),
            Command::List {
                lsub: true,
                reference: b"INBOX.".to_vec(),
                pattern: b"%".to_vec()
            }
        );
        assert_eq!(
            p("a STATUS INBOX (MESSAGES UIDNEXT)"),
            Command::Status(
                b"INBOX".to_vec(),
                vec![StatusItem::Messages, StatusItem::UidNext]
            )
        );
        assert_eq!(
            p("a STATUS INBOX ()"),
            Command::Status(b"INBOX".to_vec(), vec![])
        );
        assert_eq!(
            p("a STATUS INBOX (FOO)"),
            Command::Status(b"INBOX".to_vec(), vec![])
        );
        assert_eq!(
            p("a STATUS INBOX MESSAGES"),
            Command::Status(b"INBOX".to_vec(), vec![StatusItem::Messages])
        );
        assert!(bad(b"a SELECT").bad);
        assert!(bad(b"a COPY 1").bad);
        assert!(!bad(b"a FETCH 1").bad);
    }

    #[test]
    fn append_forms() {
        assert_eq!(
            p("a APPEND INBOX (\\Seen foo) \" 1-Jan-2020 10:00:00 +0000\" {3}\r\nabc"),
            Command::Append {
                mailbox: b"INBOX".to_vec(),
                flags: vec![b"\\Seen".to_vec(), b"foo".to_vec()],
                date: Some(b" 1-Jan-2020 10:00:00 +0000".to_vec()),
                message: b"abc".to_vec()
            }
        );
        let h = parse_append_head(b"t1 APPEND \"INBOX\" (\\Seen) {1000+}").unwrap();
        assert_eq!(h.tag, b"t1");
        assert_eq!(h.len, 1000);
        assert!(h.nonsync);
        assert!(parse_append_head(b"t1 APPEND {5}").is_none());
        assert!(parse_append_head(b"t1 FETCH 1 {5}").is_none());
    }

    #[test]
    fn fetch_forms() {
        match p(
            "a FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From To)]<0.100> BODY[1.2.MIME] BODY[])",
        ) {
            Command::Fetch {
                uid: false, atts, ..
            } => {
                assert_eq!(atts.len(), 6);
                assert_eq!(
                    atts[3],
                    FetchAtt::Section {
                        peek: true,
                        section: Section {
                            part: vec![],
                            text: Some(SectionText::HeaderFields(vec![
                                b"From".to_vec(),
                                b"To".to_vec()
                            ]))
                        },
                        partial: Some((0, 100))
                    }
                );
                assert_eq!(
                    atts[4],
                    FetchAtt::Section {
                        peek: false,
                        section: Section {
                            part: vec![1, 2],
                            text: Some(SectionText::Mime)
                        },
                        partial: None
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        match p("a UID FETCH 5 FULL") {
            Command::Fetch {
                uid: true, atts, ..
            } => assert_eq!(atts.len(), 5),
            other => panic!("{other:?}"),
        }
        match p("a FETCH 1 body[2]") {
            Command::Fetch { atts, .. } => {
                assert!(
                    matches!(&atts[0], FetchAtt::Section { section, .. } if section.part == vec![2])
                )
            }
            other => panic!("{other:?}"),
        }
        bad(b"a FETCH 1 (FLAGS");
        bad(b"a FETCH 1 BODY[MIME]");
        bad(b"a FETCH 1 BODY[HEADER.FIELDS ()]");
        bad(b"a FETCH 1 BODY[]<1.0>");
        assert!(matches!(p("a FETCH 0 FLAGS"), Command::Fetch { .. }));
        bad(b"a FETCH 1 FOO");
    }

    #[test]
    fn store_forms() {
        assert_eq!(
            p("a UID STORE 1:2 +FLAGS.SILENT (\\Deleted $Junk)"),
            Command::Store {
                uid: true,
                set: SeqSet::parse(b"1:2").unwrap(),
                mode: StoreMode::Add,
                silent: true,
                flags: vec![b"\\Deleted".to_vec(), b"$Junk".to_vec()]
            }
        );
        assert!(matches!(
            p("a STORE 1 -FLAGS \\Seen"),
            Command::Store {
                mode: StoreMode::Remove,
                ..
            }
        ));
        assert!(
            matches!(p("a STORE 1 FLAGS ()"), Command::Store { mode: StoreMode::Replace, ref flags, .. } if flags.is_empty())
        );
        bad(b"a STORE 1 XFLAGS (\\Seen)");
    }

    #[test]
    fn copy_move() {
        assert!(matches!(
            p("a COPY 1:3 INBOX.x"),
            Command::Copy { uid: false, .. }
        ));
        assert!(matches!(
            p("a UID MOVE 1:3 \"INBOX.x\""),
            Command::Move { uid: true, .. }
        ));
    }

    #[test]
    fn search_forms() {
        let c = p(
            "a SEARCH CHARSET UTF-8 OR FROM x (SUBJECT \"y z\" SINCE 1-Feb-2020) NOT UID 1:* 2,4 HEADER X-A b LARGER 10 KEYWORD $x",
        );
        match c {
            Command::Search {
                uid: false,
                charset: Some(cs),
                key: SearchKey::And(keys),
            } => {
                assert_eq!(cs, b"UTF-8");
                assert_eq!(keys.len(), 6);
                assert!(matches!(keys[0], SearchKey::Or(..)));
                assert!(matches!(keys[1], SearchKey::Not(..)));
                assert!(matches!(keys[2], SearchKey::Seq(..)));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(p("a UID SEARCH ON \"1-Jan-1970\""), Command::Search { uid: true, key: SearchKey::And(ref k), .. } if k[0] == SearchKey::On(0))
        );
        bad(b"a SEARCH");
        bad(b"a SEARCH (ALL");
        bad(b"a SEARCH FOO");
        bad(b"a SEARCH BEFORE 32-Jan-2020");
        bad(b"a SEARCH OR ALL");
    }

    #[test]
    fn hostile_input() {
        assert_eq!(bad(b"").tag, None);
        assert_eq!(bad(b" NOOP").tag, None);
        assert_eq!(bad(b"a").tag, Some(b"a".to_vec()));
        bad(b"a FOO");
        bad(b"a SELECT");
        bad(b"a SELECT {5}\r\nab");
        bad(b"a SELECT {99999999999999999999}\r\n");
        bad(b"a SELECT \"unterminated");
        bad(b"a SELECT \"bad\\escape\"");
        bad(b"a NOOP extra");
        let deep = format!("a SEARCH {}ALL{}", "(".repeat(5000), ")".repeat(5000));
        bad(deep.as_bytes());
        let nots = format!("a SEARCH {}ALL", "NOT ".repeat(5000));
        bad(nots.as_bytes());
        let mut long = b"a UID FETCH ".to_vec();
        for i in 1..150_000u32 {
            long.extend_from_slice(format!("{},", i * 3).as_bytes());
        }
        long.extend_from_slice(b"1 FLAGS");
        assert!(matches!(
            parse_command(&long).unwrap().command,
            Command::Fetch { .. }
        ));
        // Every prefix of a valid command either parses or fails cleanly.
        let full = b"a UID FETCH 1:* (BODY.PEEK[1.HEADER.FIELDS (A \"B\" {1}\r\nC)]<1.2> FLAGS)";
        for n in 0..full.len() {
            let _ = parse_command(&full[..n]);
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_search_date(b"1-Jan-1970"), Some(0));
        assert_eq!(parse_search_date(b"01-Mar-2000"), Some(11017));
        assert_eq!(parse_search_date(b"1-Foo-2000"), None);
    }
}
