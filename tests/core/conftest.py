import pytest


@pytest.fixture(scope="session")
def continual_figures(tmp_path_factory):
    """``continual(method, batch_size)`` of ``test_alphaedit_continual``, measured once per session:
    MEMIT's figures serve AlphaEdit's and COMEBA-HK's tests alike (each takes minutes). Their
    statistics are sampled here, in a cache of their own under the callers' one torch thread:
    taken from the shared cache, they were whatever an earlier test had computed, with however
    many threads it ran, and the figures moved with the order the tests ran in."""
    from tests.core.test_alphaedit_continual import continual

    measured: dict[tuple[str, int], dict[str, float]] = {}
    cache = tmp_path_factory.mktemp("continual-cache")

    def get(method: str, batch_size: int) -> dict[str, float]:
        if (method, batch_size) not in measured:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("FACTSMITH_CACHE_DIR", str(cache))
                measured[method, batch_size] = continual(method, batch_size)
        return measured[method, batch_size]

    return get
