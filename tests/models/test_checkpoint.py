"""Checkpoints round-trip through save/load, and a file that would run code when unpickled is refused."""
import pytest
import torch

from skysift.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


class Payload:
    """Stands in for any object a stranger's checkpoint could ask the unpickler to build."""

    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_round_trip_and_atomic_write(tmp_path):
    state = {"model_state": {"w": torch.arange(6.0).reshape(2, 3)}, "model_config": {"profile": "tiny", "dims": [4, 8]},
             "step": 7, "val_loss": 0.25}
    save_checkpoint(tmp_path / "best.pt", state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]  # no temporary left behind
    back = load_checkpoint(tmp_path / "best.pt")
    assert torch.equal(back["model_state"]["w"], state["model_state"]["w"])
    assert back["model_config"] == state["model_config"] and back["step"] == 7


def test_code_carrying_and_foreign_files_are_refused(tmp_path, capsys):
    torch.save({"model_state": {}, "hook": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"evil\.pt: not a checkpoint skysift reads safely"):
        load_checkpoint(tmp_path / "evil.pt")
    assert "code ran" not in capsys.readouterr().out
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="holds a dict, found list"):
        load_checkpoint(tmp_path / "list.pt")
