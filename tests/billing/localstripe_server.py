"""localstripe, as the billing tests run it (a server of its own, like DynamoDB Local).

Run as `python localstripe_server.py PORT`. Two changes to it, both outside what the tests
check: it writes nothing to /tmp/localstripe.pickle (every localstripe on the machine would
share that file), and it reads a subscription item's `price` as its `plan` and
`proration_behavior` as its `prorate`: localstripe predates Stripe's Prices, and Stripe
takes a recurring price wherever it takes a plan.
"""

import sys
from typing import Any

from localstripe import resources, server


def _plans(items: Any) -> None:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "price" in item:
            item["plan"] = item.pop("price")


_create = resources.Subscription.__init__
_update = resources.Subscription._update


def _subscription_create(self: Any, *args: Any, items: Any = None, **kwargs: Any) -> None:
    _plans(items)
    _create(self, *args, items=items, **kwargs)


def _subscription_update(self: Any, items: Any = None, **kwargs: Any) -> Any:
    _plans(items)
    behaviour = kwargs.pop("proration_behavior", None)
    if behaviour is not None:
        kwargs["prorate"] = behaviour != "none"
    return _update(self, items=items, **kwargs)


resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
resources.Subscription.__init__ = _subscription_create  # type: ignore[method-assign]
resources.Subscription._update = _subscription_update  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "--port", sys.argv[1], "--from-scratch"]
    server.start()
