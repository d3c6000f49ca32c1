"""PanDA, panoptic data augmentation (Liu et al.): decompose -> dropout / resize / shift -> compose."""
