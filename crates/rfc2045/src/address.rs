//! RFC 822 address lists, tokenized the way Courier's rfc822 library does, for ENVELOPE.
//! A `.` is part of an atom here: Courier prints the name `Mr. Smith` with its space.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Atom,
    Quoted,
    Comment,
    Special(u8),
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    text: Vec<u8>,
}

fn tokenize(v: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'"' => {
                let mut text = Vec::new();
                i += 1;
                while i < v.len() && v[i] != b'"' {
                    if v[i] == b'\\' && i + 1 < v.len() {
                        i += 1;
                    }
                    if v[i] != b'\r' && v[i] != b'\n' {
                        text.push(v[i]);
                    }
                    i += 1;
                }
                i += 1;
                out.push(Token {
                    kind: Kind::Quoted,
                    text,
                });
            }
            b'(' => {
                let mut depth = 0usize;
                let mut text = Vec::new();
                while i < v.len() {
                    let c = v[i];
                    if c == b'\\' && i + 1 < v.len() {
                        text.push(v[i + 1]);
                        i += 2;
                        continue;
                    }
                    if c == b'(' {
                        depth += 1;
                        if depth == 1 {
                            i += 1;
                            continue;
                        }
                    } else if c == b')' {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    if c != b'\r' && c != b'\n' {
                        text.push(c);
                    }
                    i += 1;
                }
                out.push(Token {
                    kind: Kind::Comment,
                    text,
                });
            }
            b'[' => {
                let start = i;
                while i < v.len() && v[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(v.len());
                out.push(Token {
                    kind: Kind::Atom,
                    text: v[start..i].to_vec(),
                });
            }
            b'<' | b'>' | b'@' | b',' | b';' | b':' | b']' | b')' => {
                out.push(Token {
                    kind: Kind::Special(b),
                    text: vec![b],
                });
                i += 1;
            }
            _ => {
                let start = i;
                while i < v.len() && !b" \t\r\n\"(<>@,;:[])".contains(&v[i]) {
                    i += 1;
                }
                out.push(Token {
                    kind: Kind::Atom,
                    text: v[start..i].to_vec(),
                });
            }
        }
    }
    out
}

/// One ENVELOPE address structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Addr {
    Mailbox {
        name: Option<Vec<u8>>,
        route: Option<Vec<u8>>,
        mailbox: Vec<u8>,
        host: Option<Vec<u8>>,
    },
    GroupStart(Vec<u8>),
    GroupEnd,
}

/// Prints tokens as Courier does: a space between two tokens that are not specials,
/// comments in parentheses, quoted strings with their quotes when `quotes`.
fn print(tokens: &[Token], quotes: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev_word = false;
    for t in tokens {
        let word = !matches!(t.kind, Kind::Special(_));
        if word && prev_word {
            out.push(b' ');
        }
        match t.kind {
            Kind::Comment => {
                out.push(b'(');
                out.extend_from_slice(&t.text);
                out.push(b')');
            }
            Kind::Quoted if quotes => {
                out.push(b'"');
                out.extend_from_slice(&t.text);
                out.push(b'"');
            }
            _ => out.extend_from_slice(&t.text),
        }
        prev_word = word;
    }
    out
}

/// Local part (with any source route) and domain of an addr-spec; the domain is empty
/// when there is no `@` (Courier sends "" there, not NIL).
fn addr_spec(tokens: &[Token]) -> (Vec<u8>, Vec<u8>) {
    match tokens.iter().rposition(|t| t.kind == Kind::Special(b'@')) {
        Some(a) => (print(&tokens[..a], true), print(&tokens[a + 1..], true)),
        _ => (print(tokens, true), Vec::new()),
    }
}

fn mailbox(tokens: &[Token], out: &mut Vec<Addr>) {
    if tokens.is_empty() {
        return;
    }
    if let Some(lt) = tokens.iter().position(|t| t.kind == Kind::Special(b'<')) {
        let gt = tokens[lt..]
            .iter()
            .position(|t| t.kind == Kind::Special(b'>'))
            .map_or(tokens.len(), |g| g + lt);
        let name = print(&tokens[..lt], false);
        let (mb, host) = addr_spec(&tokens[lt + 1..gt]);
        let name = if name.is_empty() { None } else { Some(name) };
        out.push(Addr::Mailbox {
            name,
            route: None,
            mailbox: mb,
            host: Some(host),
        });
        // Courier makes whatever follows the '>' (a comment, say) an address of its own.
        if gt + 1 < tokens.len() {
            mailbox(&tokens[gt + 1..], out);
        }
        return;
    }
    let comments: Vec<Token> = tokens
        .iter()
        .filter(|t| t.kind == Kind::Comment)
        .cloned()
        .collect();
    let rest: Vec<Token> = tokens
        .iter()
        .filter(|t| t.kind != Kind::Comment)
        .cloned()
        .collect();
    let name = comments
        .iter()
        .map(|c| c.text.clone())
        .collect::<Vec<_>>()
        .join(&b' ');
    let (mb, host) = addr_spec(&rest);
    let host = if rest.is_empty() { None } else { Some(host) };
    out.push(Addr::Mailbox {
        name: Some(name).filter(|n| !n.is_empty() && host.is_some()),
        route: None,
        mailbox: mb,
        host,
    });
}

/// Parses an address list header value into ENVELOPE address structures.
pub(crate) fn parse_list(v: &[u8]) -> Vec<Addr> {
    let tokens = tokenize(v);
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_group = false;
    while i < tokens.len() {
        // One address runs to the next ',' or ';' outside <>, or a group's ':'.
        let mut j = i;
        let mut angle = false;
        while j < tokens.len() {
            match tokens[j].kind {
                Kind::Special(b'<') => angle = true,
                Kind::Special(b'>') => angle = false,
                Kind::Special(b',') | Kind::Special(b';') if !angle => break,
                Kind::Special(b':') if !angle && !in_group => break,
                _ => {}
            }
            j += 1;
        }
        let sep = tokens.get(j).map(|t| t.kind);
        if sep == Some(Kind::Special(b':')) {
            out.push(Addr::GroupStart(print(&tokens[i..j], false)));
            in_group = true;
        } else {
            mailbox(&tokens[i..j], &mut out);
            if sep == Some(Kind::Special(b';')) && in_group {
                out.push(Addr::GroupEnd);
                in_group = false;
            }
        }
        i = j + 1;
    }
    if in_group {
        out.push(Addr::GroupEnd);
    }
    out
}

/// Writes an address list in ENVELOPE form: `NIL` when empty.
pub(crate) fn write_list(out: &mut Vec<u8>, v: Option<&[u8]>) {
    let addrs = v.map(parse_list).unwrap_or_default();
    if addrs.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in &addrs {
        out.push(b'(');
        match a {
            Addr::Mailbox {
                name,
                route,
                mailbox,
                host,
            } => {
                let name = name.as_deref().map(crate::envelope::encode_8bit);
                crate::envelope::write_field(out, name.as_deref());
                out.push(b' ');
                crate::envelope::write_field(out, route.as_deref());
                out.push(b' ');
                crate::envelope::write_field(out, Some(mailbox));
                out.push(b' ');
                crate::envelope::write_field(out, host.as_deref());
            }
            Addr::GroupStart(name) => {
                out.extend_from_slice(b"NIL NIL ");
                crate::envelope::write_field(out, Some(name));
                out.extend_from_slice(b" NIL");
            }
            Addr::GroupEnd => out.extend_from_slice(b"NIL NIL NIL NIL"),
        }
        out.push(b')');
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &str) -> String {
        let mut o = Vec::new();
        write_list(&mut o, Some(v.as_bytes()));
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn addresses() {
        assert_eq!(
            w("Fred Foobar <foobar@Blurdybloop.COM>"),
            r#"(("Fred Foobar" NIL "foobar" "Blurdybloop.COM"))"#
        );
        assert_eq!(
            w("a@b.c, \"Q \\\" x\" <d@e>"),
            r#"((NIL NIL "a" "b.c")("Q \" x" NIL "d" "e"))"#
        );
        assert_eq!(
            w("undisclosed: a@b;"),
            r#"((NIL NIL "undisclosed" NIL)(NIL NIL "a" "b")(NIL NIL NIL NIL))"#
        );
        assert_eq!(w(""), "NIL");
        assert_eq!(w("<@r1,@r2:x@y>"), r#"((NIL NIL "@r1,@r2:x" "y"))"#);
        assert_eq!(w("local"), r#"((NIL NIL "local" ""))"#);
    }
}
