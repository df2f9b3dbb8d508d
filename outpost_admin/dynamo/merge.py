"""One page across the shards of a write-sharded index: a Query per shard, merged by sort key.

An index whose partition key is `<shard>` spreads its writes over several partitions; a
reader queries each shard (one Query per shard per round) and merges the heads in sort-key
order. The cursor holds one position per shard, so no item is shown twice or skipped
whatever each shard's page holds; order across shards is exact except among items with
equal sort keys. A shard is a lane:

- `buffer`: items it read and this page has not shown yet, in order;
- `start`: where its next Query starts (its LastEvaluatedKey), `ended` once it has none;
- `resume`: where a later page resumes it, i.e. just before `buffer[0]`.

An item is shown only when no lane that might still hold an earlier one is unread: a lane
with nothing buffered but more to read holds only items after its `start`. Such a lane is
read again in the next round (`max_reads` rounds at most); the page may then end short,
with a cursor, as a filtered Query's page does.
"""

from dataclasses import dataclass, field
from typing import Any

from .client import call
from .cursors import decode_cursor, encode_cursor
from .errors import BadCursor

Position = list[str] | None  # the key values of an ExclusiveStartKey (all strings), or None


@dataclass
class _Lane:
    shard: str
    start: Position
    resume: Position
    ended: bool = False
    buffer: list[dict[str, Any]] = field(default_factory=list)

    def read(
        self, params: dict[str, Any], *, shard_value: str, limit: int, keys: tuple[str, ...]
    ) -> None:
        request = {**params, "Limit": limit}
        request["ExpressionAttributeValues"] = {
            **params["ExpressionAttributeValues"],
            ":shard": {"S": shard_value},
        }
        if self.start is not None:
            request["ExclusiveStartKey"] = {
                k: {"S": v} for k, v in zip(keys, self.start, strict=True)
            }
        response = call("query", **request)
        self.buffer = list(response.get("Items", []))
        last = response.get("LastEvaluatedKey")
        self.start = [last[k]["S"] for k in keys] if last else None
        self.ended = last is None
        if not self.buffer:
            self.resume = self.start

    def take(self, keys: tuple[str, ...]) -> dict[str, Any]:
        item = self.buffer.pop(0)
        self.resume = [item[k]["S"] for k in keys] if self.buffer else self.start
        return item

    @property
    def unread_only(self) -> bool:
        """Nothing buffered, more to read: it might hold items before any buffered head."""
        return not self.buffer and not self.ended


def query_shards(
    params: dict[str, Any],
    *,
    shards: dict[str, str],
    sort_key: str,
    descending: bool,
    limit: int,
    cursor: str | None,
    scope: str,
    key_names: tuple[str, ...],
    max_reads: int = 1,
    read_size: int = 0,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `params` (a Query whose key condition names `:shard`) over `shards`
    (name -> partition key value), merged by `sort_key`; `key_names` are the index's and the
    table's key attributes (strings). Returns the items and the next page's cursor."""
    lanes = _lanes(decode_cursor(cursor, scope=scope), shards, len(key_names))
    shown: list[dict[str, Any]] = []
    for _ in range(max_reads):
        for lane in lanes:
            if lane.unread_only:
                lane.read(
                    params,
                    shard_value=shards[lane.shard],
                    limit=max(limit, read_size),
                    keys=key_names,
                )
        blocked = _take(lanes, shown, limit, sort_key, key_names, descending)
        if len(shown) >= limit or not blocked:
            break
    return shown, _cursor(lanes, shards, scope)


def _take(
    lanes: list[_Lane],
    shown: list[dict[str, Any]],
    limit: int,
    sort_key: str,
    keys: tuple[str, ...],
    descending: bool,
) -> bool:
    """Show heads in order until the page is full, the lanes are empty, or a lane must be
    read first (returns True then)."""
    sort_at = keys.index(sort_key)
    while len(shown) < limit:
        full = [lane for lane in lanes if lane.buffer]
        if not full:
            return any(lane.unread_only for lane in lanes)
        pick = max if descending else min
        lane = pick(full, key=lambda lane: lane.buffer[0][sort_key]["S"])
        head = lane.buffer[0][sort_key]["S"]
        for other in lanes:
            if other.unread_only and other.start is not None:
                bound = other.start[sort_at]
                if (head < bound) if descending else (head > bound):
                    return True
        shown.append(lane.take(keys))
    return False


def _lanes(state: dict[str, Any] | None, shards: dict[str, str], width: int) -> list[_Lane]:
    if state is None:
        return [_Lane(shard, None, None) for shard in shards]
    positions = state.get("p")
    if not isinstance(positions, dict) or set(positions) != set(shards):
        raise BadCursor("invalid cursor")
    lanes = []
    for shard in shards:
        position = positions[shard]
        if position == 0:
            continue  # read to its end
        if position is not None and (
            not isinstance(position, list)
            or len(position) != width
            or not all(isinstance(v, str) for v in position)
        ):
            raise BadCursor("invalid cursor")
        lanes.append(_Lane(shard, position, position))
    return lanes


def _cursor(lanes: list[_Lane], shards: dict[str, str], scope: str) -> str | None:
    """Every shard's position: a key, None (from its beginning) or 0 (read to its end)."""
    positions: dict[str, Any] = dict.fromkeys(shards, 0)
    for lane in lanes:
        if lane.buffer:
            positions[lane.shard] = lane.resume
        elif not lane.ended:
            positions[lane.shard] = lane.start
    if all(position == 0 for position in positions.values()):
        return None
    return encode_cursor({"p": positions}, scope=scope)
