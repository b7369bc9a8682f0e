"""Domain operations that are not actors: what the HTTP layer (and the scheduler) call to get
work done across workspaces, built on the actors, the store and the provisioners."""
