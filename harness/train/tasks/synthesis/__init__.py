"""GAN synthesis (SPADE, panoptic SPADE): training task, label-map data and evaluation."""
