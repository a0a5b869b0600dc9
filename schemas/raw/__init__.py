"""Raw channel contracts: what each channel's systems really send, one module per family.

Each module defines one top-level model named `<Family>Event` that a raw record on
`touchpoints.raw.<family>` must validate against. Unknown extra fields are ignored (real
systems add fields); missing or mistyped ones are errors.
"""

#: Channels whose module has another name: `import` is a Python keyword.
_MODULES = {"import": "imported"}


def module_name(channel: str) -> str:
    """The module of a channel's contract here (and of its mapper in the pipeline)."""
    return _MODULES.get(channel, channel)
