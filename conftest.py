"""Root pytest set-up: the doctests of the optional framework layers are collected only
when their framework is installed (``pip install taylorjit[jax]`` / ``[torch]``)."""
from importlib.util import find_spec

collect_ignore = [f"taylorjit/{name}.py" for name in ("jax", "torch") if find_spec(name) is None]
