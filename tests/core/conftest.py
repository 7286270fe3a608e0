import pytest


@pytest.fixture(scope="session")
def continual_figures():
    """``continual(method, batch_size)`` of ``test_alphaedit_continual``, measured once per session:
    MEMIT's figures serve AlphaEdit's and COMEBA-HK's tests alike (each takes minutes)."""
    from tests.core.test_alphaedit_continual import continual

    measured: dict[tuple[str, int], dict[str, float]] = {}

    def get(method: str, batch_size: int) -> dict[str, float]:
        if (method, batch_size) not in measured:
            measured[method, batch_size] = continual(method, batch_size)
        return measured[method, batch_size]

    return get
