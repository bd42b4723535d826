"""The approved dataset of a model version as a zip: images, masks, licences and a manifest."""
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import tifffile

from annotations.files import load_npz
from community.models import ModelCard
from inference.engine import safe_stem


def dataset_zip(*, card: ModelCard, path: Path) -> Path:
    """Write ``path`` (a zip): ``images/<id>-<name>`` (the contributed file as it was uploaded),
    ``masks/<id>-<stem>_masks.tif`` (uint16/int32 labels), ``manifest.json`` (one entry per
    contribution: split, licence, contributor, tags, annotation version) and ``LICENSES.txt``."""
    entries = []
    members = [(c, "train") for c in card.contributions.select_related("contributor").order_by("pk")]
    if card.test_set is not None:
        members += [(c, "test") for c in card.test_set.contributions.select_related("contributor").order_by("pk")]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for contribution, split in members:
            stem = f"{contribution.pk}-{safe_stem(contribution.image_name)}"
            image_name = f"images/{contribution.pk}-{Path(contribution.image_file.name).name}"
            with contribution.image_file.open("rb") as fh:
                archive.writestr(image_name, fh.read())
            masks = load_npz(contribution.masks_file)["masks"]
            masks = masks.astype(np.uint16 if masks.max(initial=0) < 65536 else np.int32)
            masks_name = f"masks/{stem}_masks.tif"
            buffer = io.BytesIO()
            tifffile.imwrite(buffer, masks, compression="zlib")
            archive.writestr(masks_name, buffer.getvalue())
            entries.append({
                "contribution": contribution.pk, "split": split, "image": image_name, "masks": masks_name,
                "original_name": contribution.image_name, "license": contribution.license,
                "contributor": contribution.contributor.get_username(), "tags": contribution.tags,
                "annotation_version": contribution.annotation_version, "n_masks": contribution.n_masks,
            })
        manifest = {
            "model": {"id": card.model_version_id, "name": card.model_version.name,
                      "version": card.model_version.version},
            "test_set": card.test_set.version if card.test_set else None,
            "contributions": entries,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        lines = [f"{e['image']}: {e['license']} by {e['contributor']}" for e in entries]
        archive.writestr("LICENSES.txt", "CC0 1.0: https://creativecommons.org/publicdomain/zero/1.0/\n"
                         "CC BY 4.0: https://creativecommons.org/licenses/by/4.0/\n\n" + "\n".join(lines) + "\n")
    return path
