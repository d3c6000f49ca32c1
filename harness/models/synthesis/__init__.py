"""Semantic/panoptic image synthesis: SPADE and the panoptic-aware SPADE of Dundar et al.
(generator, multi-scale discriminator, GAN losses, label maps), built through `create_model`."""
