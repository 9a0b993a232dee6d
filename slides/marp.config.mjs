// Marp CLI settings for the kit's decks (slides/tools/build.mjs passes this file).
export default {
  html: true, // the build inlines diagrams as <img src="data:...">
  themeSet: ['theme/kit.css'],
  bespoke: { transition: false },
  options: {
    // A line break in the source is a space, as in every other Markdown file.
    markdown: { breaks: false },
    math: false,
  },
};
