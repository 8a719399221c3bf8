-- Calibrated synthesis and the sentence-embedding distance (issue 12): every synthesized row
-- records the calibration that set its bias and the image set it was calibrated on, so a
-- row can be traced to the unlabeled images behind it. The calibration's name and parameters
-- are also in spec_json (SynthesisSpec); the set is never an image set the row is scored on.

ALTER TABLE synthesized_heads ADD COLUMN calibration VARCHAR DEFAULT 'none';  -- e.g. 'zscore'
-- The registered image set (image_sets.set_id) the bias was calibrated on; NULL: none used.
ALTER TABLE synthesized_heads ADD COLUMN calibration_set_id BIGINT;
-- {"source": ..., "n_images": ..., "bias_before": ...}: what the calibration saw and changed.
ALTER TABLE synthesized_heads ADD COLUMN calibration_json VARCHAR;
