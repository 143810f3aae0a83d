"""The handbook's worked programs (ARTIFACTS.md section 4), as the tests run them.

Both are contracts in the Gatekeeper pattern: they hold what they are given and release it
only by their own rules. Freeze a contract before you ask others to trust it.
"""

from __future__ import annotations

__all__ = ["SPLITTER", "TIMED_SALE", "WORD_COUNT", "splitter"]

SPLITTER = """\
# A splitter: forwards what it is paid beyond its price to several agents, in shares.
SHARES = {shares}

def main(args, host):
    total = sum(SHARES.values())
    paid, sent = host.paid, {{}}
    names = sorted(SHARES)
    for i, who in enumerate(names):
        # the last share takes the remainder, so nothing stays behind
        amount = paid - sum(sent.values()) if i == len(names) - 1 else paid * SHARES[who] // total
        if amount:
            host.transfer(who, amount)
        sent[who] = amount
    host.log("split", paid, "scrip:", sent)
    return {{"forwarded": sent}}
"""


def splitter(shares: dict[str, int]) -> str:
    """The splitter's source for ``shares`` (agent id -> share)."""
    return SPLITTER.format(shares=repr(dict(sorted(shares.items()))))


TIMED_SALE = """\
# A time-limited sale: the owner gives an artifact to this program, then offers it for a
# price until a deadline; the first buyer who pays in time gets it and the owner gets the
# scrip; after the deadline the owner can take it back. Nobody else can move it.
def main(args, host):
    action = args.get("action", "buy")
    offer = host.get("offer")
    if action == "offer":
        if host.invoker != host.owner:
            raise PermissionError("only the owner makes the offer")
        if offer is not None:  # terms cannot change while an offer stands
            raise ValueError("an offer stands until it is bought or reclaimed")
        if not (args["seconds"] > 0 and args["price"] >= 0):
            raise ValueError("seconds must be > 0 and price >= 0")
        until = host.now + args["seconds"]
        host.set("offer", {"artifact": args["artifact"], "price": args["price"], "until": until})
        return {"offered": args["artifact"], "price": args["price"], "until": until}
    if offer is None:
        raise LookupError("nothing is on offer")
    if action == "reclaim":
        if host.invoker != host.owner:
            raise PermissionError("only the owner takes it back")
        if host.now <= offer["until"]:
            raise ValueError("the offer is open until " + str(offer["until"]))
        host.give(offer["artifact"], host.owner)
        host.delete("offer")
        return {"reclaimed": offer["artifact"]}
    if host.now > offer["until"]:
        raise ValueError("the offer has expired")
    if host.paid < offer["price"]:
        raise ValueError("the price is " + str(offer["price"]) + " scrip; pay at least that")
    host.transfer(host.owner, host.paid)
    host.give(offer["artifact"], host.invoker)
    host.delete("offer")
    return {"bought": offer["artifact"], "paid": host.paid}
"""

WORD_COUNT = """\
# A tool: counts the words of a text, or of an artifact's content.
def main(args, host):
    text = args.get("text")
    if text is None:
        text = host.read(args["artifact_id"])["content"]
    return {"words": len(text.split())}
"""
