"""GoatCounter's CSV export format (spec/goatcounter.md §13.1): writing version-2 rows exactly
as GoatCounter does, and reading exports of format 1 or 2 (gzipped or plain) back for imports,
with errors that name the line and column."""
import csv
import gzip
import hashlib
import io
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone

from app.clock import rfc3339
from app.ingest import useragent

COLUMNS = ("Path", "Title", "Event", "UserAgent", "Browser", "System", "Session", "Bot",
           "Referrer", "Referrer scheme", "Screen size", "Location", "FirstVisit", "Date")
VERSION = "2"
HEADER = VERSION + ",".join(COLUMNS) + "\n"
SCHEMES = frozenset("hgco")
_LOCATION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
# Go's unicode.IsSpace; Python's str.isspace() also counts the separators U+001C..U+001F.
_NOT_GO_SPACE = frozenset("\x1c\x1d\x1e\x1f")
_NO_SESSION = frozenset(("", "0", "0-0"))


# --- writing ----------------------------------------------------------------------------------

def _field(text):
    """One CSV field as Go's encoding/csv writes it: quoted when it contains a comma, a quote,
    CR or LF, begins with white space, or is exactly ``\\.``; inner quotes doubled."""
    if text == "":
        return text
    first = text[0]
    if ("," in text or '"' in text or "\r" in text or "\n" in text or text == "\\."
            or (first.isspace() and first not in _NOT_GO_SPACE)):
        return '"' + text.replace('"', '""') + '"'
    return text


def line(values):
    return ",".join(_field(value) for value in values) + "\n"


def session_text(session_uuid):
    """A 16-byte session id as GoatCounter prints its 128-bit integers: the high and the low 64
    bits in lower-case hex without padding, joined by '-' (``0-0``: no session)."""
    if not session_uuid:
        return "0-0"
    raw = bytes(session_uuid)
    return f"{int.from_bytes(raw[:8], 'big'):x}-{int.from_bytes(raw[8:], 'big'):x}"


def _pair(name, version):
    return "" if name is None else f"{name} {version or ''}"


def row_values(row):
    """The 14 fields of one hit; ``row`` has path, title, event, browser_name, browser_version,
    system_name, system_version, session_uuid, ref, ref_scheme, width, location, first_visit,
    created_at (None where there is no such dimension)."""
    return (row.path, row.title or "", "1" if row.event else "0", "",
            _pair(row.browser_name, row.browser_version),
            _pair(row.system_name, row.system_version), session_text(row.session_uuid), "0",
            row.ref or "", row.ref_scheme or "o", f"{row.width or 0},0,1", row.location or "",
            "1" if row.first_visit else "0", rfc3339(row.created_at))


# --- reading ----------------------------------------------------------------------------------

class BadRow(Exception):
    """A file that cannot be imported, and where: 1-based line and column (or None)."""

    def __init__(self, line_no, message, column=None, name=None):
        where = f"line {line_no}" + (f", column {column} ({name})" if column else "")
        super().__init__(f"{where}: {message}")
        self.line, self.column, self.message = line_no, column, message


@dataclass(slots=True)
class CsvHit:
    path: str
    title: str
    event: bool
    browser: tuple | None       # (name, version) or None
    system: tuple | None
    session: str | None         # GoatCounter's session text; None = no session
    ref: str
    ref_scheme: str
    width: int
    location: str
    first_visit: bool
    created_at: datetime        # naive UTC, whole seconds
    bot: int

    def digest(self, occurrence):
        """16 bytes identifying this row in its site whatever file it came from (the title is
        left out: it is the path's current title, which may change between exports)."""
        parts = (self.path, int(self.event), _pair(*(self.browser or (None, None))),
                 _pair(*(self.system or (None, None))), self.session or "", self.ref,
                 self.ref_scheme, self.width, self.location, int(self.first_visit),
                 self.created_at.isoformat(), occurrence)
        return hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"),
                               digest_size=16).digest()


def open_text(path):
    """The file as text: gunzipped when it starts with the gzip magic bytes."""
    raw = open(path, "rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
    else:
        raw.seek(0)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")


def read_hits(path):
    """Yield (line number, CsvHit) for every row of a GoatCounter CSV export of format 1 or 2;
    raise BadRow for the first thing that is wrong."""
    with open_text(path) as text:
        reader = csv.reader(text, strict=True)
        records = _records(reader)
        header = next(records, None)
        if header is None:
            raise BadRow(1, "the file is empty; expected a GoatCounter CSV export")
        columns = _columns(header)
        for values in records:
            line_no = reader.line_num
            if values == []:
                continue
            if len(values) != len(header):
                raise BadRow(line_no, f"{len(values)} fields, but the header has {len(header)}")
            yield line_no, _hit(line_no, values, columns)


def _records(reader):
    """csv rows, with decoding and format errors turned into BadRow."""
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise BadRow(reader.line_num + 1, "the file is not UTF-8 text") from None
        except (OSError, EOFError, zlib.error) as exc:
            raise BadRow(reader.line_num + 1, f"the gzip data is damaged ({exc})") from None
        except csv.Error as exc:
            raise BadRow(reader.line_num, f"not valid CSV: {exc}") from None
        yield values


def _columns(header):
    """{column name: index} from the header line; the version digit is glued to the first."""
    first = header[0].lstrip("\ufeff")
    version, name = first[:1], first[1:]
    if version not in ("1", "2") or name != "Path":
        raise BadRow(1, "not a GoatCounter CSV export: the header must start with "
                        "'2Path' (format 2) or '1Path' (format 1)", 1, "Path")
    names = [name, *header[1:]]
    columns = {("UserAgent" if n.strip() == "User-Agent" else n.strip()): i
               for i, n in enumerate(names)}
    if "Date" not in columns:
        raise BadRow(1, "the header has no Date column")
    return columns


def _hit(line_no, values, columns):
    def get(name):
        index = columns.get(name)
        return ("", None) if index is None else (values[index], index + 1)

    def fail(name, message):
        raise BadRow(line_no, message, columns[name] + 1, name)

    path, _ = get("Path")
    if not path or len(path) > 2048:
        fail("Path", "must be set" if not path else "longer than 2048 characters")
    event = _bool(get("Event")[0], lambda m: fail("Event", m))
    first_visit = _bool(get("FirstVisit")[0], lambda m: fail("FirstVisit", m))
    browser, system = _pair_of(get("Browser")[0], 64), _pair_of(get("System")[0], 64)
    agent = get("UserAgent")[0]
    if agent and browser is None and system is None:  # format 1 kept the User-Agent itself
        info = useragent.goatcounter(agent)
        browser = (info.browser_name[:64], info.browser_version[:32])
        system = (info.system_name[:64], info.system_version[:32])
    session = get("Session")[0].strip()
    if len(session) > 100:
        fail("Session", "longer than 100 characters")
    bot_text = get("Bot")[0].strip() or "0"
    if not bot_text.isdigit() or len(bot_text) > 5:
        fail("Bot", f"must be a whole number, not {_quote(bot_text)}")
    ref = get("Referrer")[0]
    if len(ref) > 2048:
        fail("Referrer", "longer than 2048 characters")
    scheme = get("Referrer scheme")[0].strip() or "o"
    if scheme not in SCHEMES:
        fail("Referrer scheme", f"must be one of h, g, c, o, not {_quote(scheme)}")
    size = get("Screen size")[0].strip()
    width_text = size.split(",", 1)[0].strip() or "0"
    if not width_text.isdigit() or int(width_text) >= 2 ** 31:
        fail("Screen size", f"must be <width>,<height>,<scale>, not {_quote(size)}")
    location = get("Location")[0].strip().upper()
    if location and not _LOCATION.fullmatch(location):
        fail("Location", f"must be a country (NL) or region (US-TX) code, not {_quote(location)}")
    created = _time(get("Date")[0], lambda m: fail("Date", m))
    return CsvHit(path, get("Title")[0][:1024], event, browser, system,
                  None if session in _NO_SESSION else session, ref, scheme, int(width_text),
                  location, first_visit, created, int(bot_text))


def _quote(text):
    return '"' + text[:40] + ('…"' if len(text) > 40 else '"')


def _bool(text, fail):
    value = text.strip().lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false", ""):
        return False
    fail(f"must be 0 or 1, not {_quote(text)}")


def _pair_of(text, limit):
    """'Firefox 79' → ('Firefox', '79'); ' ' → ('', ''); '' → None. Names may hold spaces,
    versions never do."""
    if text == "":
        return None
    name, space, version = text.rpartition(" ")
    if not space:
        name, version = text, ""
    return name.strip()[:limit], version.strip()[:32]


def _time(text, fail):
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in "Zz" and value
                                        else value)
    except ValueError:
        fail(f"must be an RFC 3339 time such as 2019-06-18T14:42:00Z, not {_quote(text)}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    if moment.year < 1970:
        fail(f"must be a time after 1970, not {_quote(text)}")
    return moment.replace(microsecond=0)
