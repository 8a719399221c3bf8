"""The Ray engine of the text-vector cache: chunks of new texts encoded by a pool of Ray
actors (`scale.batch.run_vector_job`), each writing its shards into the same store under the
same keys as the local engine. Ray is imported (through `scale`) only when used.
"""

from __future__ import annotations

from encoders.pooling import compute_text_features


def encode_on_ray(
    encoder,
    tokenizer,
    todo,
    unique,
    store,
    chunk_size,
    address,
    pool,
    progress,
    *,
    batch_size: int,
    max_length: int,
    device: str,
):
    """The texts of `todo` keys (`unique`: key -> text) encoded by Ray actors into `store`
    (one shard per chunk); `device`: the actors' 'auto' | 'cpu' | 'cuda'."""
    from scale.batch import run_vector_job

    factory = RayTextEncoder(encoder, tokenizer, batch_size=batch_size, max_length=max_length)
    rows = [{"index": i, "key": key, "text": unique[key]} for i, key in enumerate(todo)]
    result = run_vector_job(
        rows,
        factory,
        store.folder,
        address=address,
        pool=pool,
        device=device,
        rows_per_batch=chunk_size,
        progress=progress,
        unit="texts",
    )
    if result.errors:
        raise RuntimeError(
            f"{len(result.errors)} texts failed on Ray: {result.errors[min(result.errors)]}"
        )
    store.reload()  # the actors wrote shards this object has not read


class RayTextEncoder:
    """`compute_text_features` as a `scale.batch.EncoderFactory`: pickled with the encoder
    (on the CPU) and tokenizer to every Ray actor, which calls it once."""

    def __init__(self, encoder, tokenizer, *, batch_size: int, max_length: int):
        import copy

        on_cpu = all(p.device.type == "cpu" for p in encoder.parameters())
        self.encoder = encoder if on_cpu else copy.deepcopy(encoder).cpu()
        self.tokenizer, self.batch_size, self.max_length = tokenizer, batch_size, max_length

    def __call__(self, device: str, threads: int):
        import torch

        torch.set_num_threads(threads)
        encoder = self.encoder.to(device)

        def encode(batch: dict) -> dict:
            features = compute_text_features(
                encoder,
                self.tokenizer,
                [str(t) for t in batch["text"]],
                batch_size=self.batch_size,
                max_length=self.max_length,
                device=device,
            )
            return {"key": batch["key"], "error": [""] * len(features), "features": features}

        return encode
