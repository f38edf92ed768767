// generated once the loader lands
