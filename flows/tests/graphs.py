"""Building graphs in tests."""


def graph(*nodes, edges=()):
    """graph(("id", "type", data), ..., edges=[("a", "b"), ("a", "b", "handle")]) → a graph dict."""
    return {
        "nodes": [{"id": node_id, "type": kind, "data": data} for node_id, kind, data in nodes],
        "edges": [{"source": e[0], "target": e[1], "source_handle": e[2] if len(e) > 2 else "next"} for e in edges],
    }
