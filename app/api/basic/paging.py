"""How /api/stats answers a long result: the whole array streamed in batches, or one page of at
most `limit` rows with the next page's URL in a Link header. A cursor is opaque to clients: it
fixes the window of the first page and says where the next page starts."""
import base64
import binascii
import json
from datetime import datetime, timedelta
from itertools import islice
from urllib.parse import urlencode

from flask import Response, request

from app.api.basic.schemas import BadRequest
from app.stats.hits import BATCH, Window

_SEPARATORS = (",", ":")
_LATEST = 253402300799  # 9999-12-31T23:59:59Z, in Unix seconds


def encode_cursor(win, position):
    """``position``: an offset (aggregate mode) or a Pageview.key (verbose mode)."""
    data = {"w": [_ts(win.start), _ts(win.end)]}
    if isinstance(position, int):
        data["o"] = position
    else:
        data["k"] = [_ts(position[0]), position[1]]
    raw = json.dumps(data, separators=_SEPARATORS).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text, verbose):
    """(Window, position) from a cursor made for the same mode; BadRequest otherwise."""
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        win = Window(_dt(data["w"][0]), _dt(data["w"][1]))
        if verbose:
            time, ident = data["k"]
            position = (_dt(time), _whole(ident))
        else:
            position = _whole(data["o"])
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, binascii.Error):
        raise BadRequest("invalid cursor") from None
    return win, position


def _ts(moment):
    return int((moment - datetime(1970, 1, 1)).total_seconds())


def _dt(seconds):
    if _whole(seconds) > _LATEST:
        raise ValueError("out of range")
    return datetime(1970, 1, 1) + timedelta(seconds=seconds)


def _whole(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2 ** 63:
        raise ValueError("not a whole number")
    return value


def respond(rows, dump, limit, win, next_position):
    """The whole result streamed (``limit`` None), or one page of it."""
    if limit is None:
        return stream_response(rows, dump)
    return page_response(rows, dump, limit, next_position, win)


def page_response(rows, dump, limit, next_position, win):
    """One page: at most ``limit`` rows of ``rows`` (it is asked for one more, to know whether
    another page follows). ``next_position(last_row, count)`` names the next page's start."""
    page = list(islice(rows, limit + 1))
    rows.close()
    more = len(page) > limit
    page = page[:limit]
    response = Response(json.dumps(dump(page), separators=_SEPARATORS),
                        mimetype="application/json")
    if more:
        args = request.args.to_dict()
        args["cursor"] = encode_cursor(win, next_position(page[-1], len(page)))
        response.headers["Link"] = f'<{request.base_url}?{urlencode(args)}>; rel="next"'
    return response


def stream_response(rows, dump):
    """The whole result as one JSON array, written batch by batch. The first batch is read
    before answering, so a failing query still gets an error status instead of a cut body."""
    first = list(islice(rows, BATCH))

    def generate():
        try:
            yield "[" + _items(dump(first))
            separator = "," if first else ""
            while batch := list(islice(rows, BATCH)):
                yield separator + _items(dump(batch))
                separator = ","
            yield "]"
        finally:
            rows.close()  # also when the client went away: the cursor's connection returns
    return Response(generate(), mimetype="application/json")


def _items(objects):
    return ",".join(json.dumps(item, separators=_SEPARATORS) for item in objects)
