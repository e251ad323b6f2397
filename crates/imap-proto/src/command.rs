//! The typed form of every command imapd understands.

use crate::seqset::SeqSet;

/// One parsed command line: its tag and what it asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tagged {
    /// The tag, as sent.
    pub tag: Vec<u8>,
    /// The command.
    pub command: Command,
}

/// A STATUS data item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusItem {
    /// MESSAGES
    Messages,
    /// RECENT
    Recent,
    /// UIDNEXT
    UidNext,
    /// UIDVALIDITY
    UidValidity,
    /// UNSEEN
    Unseen,
}

/// What a STORE does with the flag list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// FLAGS: replace.
    Replace,
    /// +FLAGS: add.
    Add,
    /// -FLAGS: remove.
    Remove,
}

/// `BODY[...]` sections are courier-rfc2045's types, so the server hands the parsed
/// section to the message library as it is.
pub use courier_rfc2045::{Section, SectionText};

/// One FETCH data item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchAtt {
    /// UID
    Uid,
    /// FLAGS
    Flags,
    /// INTERNALDATE
    InternalDate,
    /// RFC822.SIZE
    Rfc822Size,
    /// ENVELOPE
    Envelope,
    /// BODY (non-extensible structure)
    Body,
    /// BODYSTRUCTURE
    BodyStructure,
    /// RFC822 (sets \Seen)
    Rfc822,
    /// RFC822.HEADER
    Rfc822Header,
    /// RFC822.TEXT (sets \Seen)
    Rfc822Text,
    /// BODY[section]<partial> or BODY.PEEK[...]
    Section {
        /// BODY.PEEK
        peek: bool,
        /// The section.
        section: Section,
        /// `<offset.length>`
        partial: Option<(u32, u32)>,
    },
}

/// A SORT criterion (RFC 5256).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// ARRIVAL: the internal date
    Arrival,
    /// CC: first Cc mailbox
    Cc,
    /// DATE: the Date header (else the internal date)
    Date,
    /// FROM: first From mailbox
    From,
    /// SIZE: RFC822.SIZE
    Size,
    /// SUBJECT: the base subject
    Subject,
    /// TO: first To mailbox
    To,
}

/// A SEARCH key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    /// All of these (a parenthesised list or the top-level program).
    And(Vec<SearchKey>),
    /// ALL
    All,
    /// ANSWERED
    Answered,
    /// BCC string
    Bcc(Vec<u8>),
    /// BEFORE date (days since the epoch)
    Before(i64),
    /// BODY string
    Body(Vec<u8>),
    /// CC string
    Cc(Vec<u8>),
    /// DELETED
    Deleted,
    /// DRAFT
    Draft,
    /// FLAGGED
    Flagged,
    /// FROM string
    From(Vec<u8>),
    /// HEADER name value
    Header(Vec<u8>, Vec<u8>),
    /// KEYWORD flag
    Keyword(Vec<u8>),
    /// LARGER n
    Larger(u64),
    /// NEW
    New,
    /// NOT key
    Not(Box<SearchKey>),
    /// OLD
    Old,
    /// ON date
    On(i64),
    /// OR a b
    Or(Box<SearchKey>, Box<SearchKey>),
    /// RECENT
    Recent,
    /// SEEN
    Seen,
    /// SENTBEFORE date
    SentBefore(i64),
    /// SENTON date
    SentOn(i64),
    /// SENTSINCE date
    SentSince(i64),
    /// SINCE date
    Since(i64),
    /// SMALLER n
    Smaller(u64),
    /// SUBJECT string
    Subject(Vec<u8>),
    /// TEXT string
    Text(Vec<u8>),
    /// TO string
    To(Vec<u8>),
    /// UID set
    Uid(SeqSet),
    /// UNANSWERED
    Unanswered,
    /// UNDELETED
    Undeleted,
    /// UNDRAFT
    Undraft,
    /// UNFLAGGED
    Unflagged,
    /// UNKEYWORD flag
    Unkeyword(Vec<u8>),
    /// UNSEEN
    Unseen,
    /// A message sequence set
    Seq(SeqSet),
}

/// One ID parameter: field name and value (NIL = None).
pub type IdParam = (Vec<u8>, Option<Vec<u8>>);

/// Every command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// CAPABILITY
    Capability,
    /// NOOP
    Noop,
    /// LOGOUT
    Logout,
    /// IDLE
    Idle,
    /// CHECK
    Check,
    /// CLOSE
    Close,
    /// EXPUNGE
    Expunge,
    /// UID EXPUNGE set
    UidExpunge(SeqSet),
    /// UNSELECT
    Unselect,
    /// NAMESPACE
    Namespace,
    /// SELECT mailbox
    Select(Vec<u8>),
    /// EXAMINE mailbox
    Examine(Vec<u8>),
    /// CREATE mailbox
    Create(Vec<u8>),
    /// DELETE mailbox
    Delete(Vec<u8>),
    /// RENAME from to
    Rename(Vec<u8>, Vec<u8>),
    /// SUBSCRIBE mailbox
    Subscribe(Vec<u8>),
    /// UNSUBSCRIBE mailbox
    Unsubscribe(Vec<u8>),
    /// LIST reference pattern (`lsub` for LSUB)
    List {
        /// LSUB rather than LIST
        lsub: bool,
        /// reference name
        reference: Vec<u8>,
        /// mailbox pattern
        pattern: Vec<u8>,
    },
    /// STATUS mailbox (items)
    Status(Vec<u8>, Vec<StatusItem>),
    /// APPEND mailbox [flags] [date] literal (message held in memory; imapd streams
    /// big ones instead, see [`crate::parser::parse_append_head`]).
    Append {
        /// target mailbox
        mailbox: Vec<u8>,
        /// flags, if given
        flags: Vec<Vec<u8>>,
        /// date-time, if given (without quotes)
        date: Option<Vec<u8>>,
        /// the message
        message: Vec<u8>,
    },
    /// [UID] SEARCH [CHARSET c] keys
    Search {
        /// UID SEARCH
        uid: bool,
        /// CHARSET
        charset: Option<Vec<u8>>,
        /// the program (an And)
        key: SearchKey,
    },
    /// [UID] FETCH set items
    Fetch {
        /// UID FETCH
        uid: bool,
        /// the set
        set: SeqSet,
        /// items
        atts: Vec<FetchAtt>,
    },
    /// [UID] STORE set mode flags
    Store {
        /// UID STORE
        uid: bool,
        /// the set
        set: SeqSet,
        /// FLAGS, +FLAGS, -FLAGS
        mode: StoreMode,
        /// .SILENT
        silent: bool,
        /// flags
        flags: Vec<Vec<u8>>,
    },
    /// [UID] COPY set mailbox
    Copy {
        /// UID COPY
        uid: bool,
        /// the set
        set: SeqSet,
        /// target
        mailbox: Vec<u8>,
    },
    /// [UID] MOVE set mailbox
    Move {
        /// UID MOVE
        uid: bool,
        /// the set
        set: SeqSet,
        /// target
        mailbox: Vec<u8>,
    },
    /// ENABLE capabilities
    Enable(Vec<Vec<u8>>),
    /// ID (params) or ID NIL
    Id(Option<Vec<IdParam>>),
    /// GETQUOTAROOT mailbox
    GetQuotaRoot(Vec<u8>),
    /// GETQUOTA root
    GetQuota(Vec<u8>),
    /// SETQUOTA (refused)
    SetQuota,
    /// [UID] SORT (criteria) charset keys (RFC 5256)
    Sort {
        /// UID SORT
        uid: bool,
        /// criteria in order, each with its REVERSE flag
        criteria: Vec<(bool, SortKey)>,
        /// the charset
        charset: Vec<u8>,
        /// the search program (an And)
        key: SearchKey,
    },
    /// [UID] THREAD algorithm charset keys (RFC 5256)
    Thread {
        /// UID THREAD
        uid: bool,
        /// REFERENCES rather than ORDEREDSUBJECT
        references: bool,
        /// the charset
        charset: Vec<u8>,
        /// the search program (an And)
        key: SearchKey,
    },
    /// LOGIN / AUTHENTICATE / STARTTLS after login
    AlreadyAuthenticated,
}
